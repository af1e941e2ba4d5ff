# The README's two commands live here: `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := iproute2 iptables nftables iputils-ping containernetworking-plugins util-linux
STAMP := $(VENV)/.installed

.PHONY: up down test lint bench setup apt clean

up: setup  ## install everything, bring up the two-node lab
	$(BIN)/cnilab up

down: setup
	$(BIN)/cnilab down

test: setup  ## lint, then every test tier (needs root: real namespaces)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/plugin_add_del.py

setup: apt $(STAMP)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info

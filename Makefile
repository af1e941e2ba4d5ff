# The README's two commands live here: `make up` and `make test`.
SHELL := /bin/bash
# Debian's own interpreter when there is one (what a Debian/Ubuntu host runs the lab with;
# it starts ~1.3 ms faster than a pyenv build, and every CNI call starts one), else python3.
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := python3-venv iproute2 iptables nftables iputils-ping containernetworking-plugins util-linux \
	chromium
# checked by tests/node (vagrant validate, shellcheck); without Recommends: no qemu/libvirt
TOOL_PACKAGES := shellcheck vagrant vagrant-libvirt
STAMP := $(VENV)/.installed
NPM_STAMP := static/node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: up down serve test test-vms lint lint-js test-js bench setup apt clean

up: setup  ## install everything, bring up the two-node lab, serve the web app
	$(BIN)/cnilab status >/dev/null 2>&1 || $(BIN)/cnilab up
	$(BIN)/cnilab serve --host $(HOST) --port $(PORT)

down: setup
	$(BIN)/cnilab down

test: setup lint-js test-js  ## lint, then every test tier (needs root: real namespaces, real browser)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

# The Vagrant path on two QEMU (TCG) VMs; builds the image once (cached in CNILAB_VM_CACHE,
# default /var/cache/cnilab-vms). See docs/real-nodes.md.
VM_PACKAGES := qemu-system-x86 qemu-utils debootstrap dpkg-dev
test-vms: setup
	@missing=$$(for p in $(VM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends $$missing; fi
	CNILAB_VMS=1 $(BIN)/python -m pytest -q -s tests/vms

lint-js: $(NPM_STAMP)  ## ESLint on the page's own JS (static/eslint.config.js)
	cd static && npx --no-install eslint .

test-js: $(NPM_STAMP)  ## unit tests of the page's pure modules, node's own runner
	cd static && node --test test/*.test.mjs

bench: setup
	$(BIN)/python bench/plugin_add_del.py
	$(BIN)/python bench/lab_pods.py
	$(BIN)/python bench/trace_time.py
	$(BIN)/python bench/fuzz.py

setup: apt $(STAMP) $(NPM_STAMP)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	tools=$$(for p in $(TOOL_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing$$tools" ]; then apt-get update -q; fi; \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi; \
	if [ -n "$$tools" ]; then \
		echo "installing: $$tools"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$tools; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m compileall -q lab app exercises
	touch $(STAMP)

$(NPM_STAMP): static/package.json static/package-lock.json
	cd static && npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

clean:
	rm -rf $(VENV) *.egg-info static/node_modules

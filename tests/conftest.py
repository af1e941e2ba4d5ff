"""Fixtures shared by every tier. Kernel tests create namespaces named `pytest-*` and
remove them afterwards, even when the test fails."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.cluster import build
from lab.cluster.plan import Plan, make_plan
from lab.runtime.pods import Runtime


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root to create network namespaces")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


class Namespaces:
    """Creates uniquely named network namespaces and removes all of them at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.prefix = f"pytest-{uuid.uuid4().hex[:6]}"

    def new(self, role: str = "ns") -> str:
        from pyroute2 import netns

        name = f"{self.prefix}-{role}-{len(self.names)}"
        netns.create(name)
        self.names.append(name)
        return name

    def remove(self, name: str) -> None:
        from pyroute2 import netns

        if name in netns.listnetns():
            netns.remove(name)

    def cleanup(self) -> None:
        for name in reversed(self.names):
            self.remove(name)


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    ns = Namespaces()
    try:
        yield ns
    finally:
        ns.cleanup()


# A whole embedded lab per test, under its own prefix and state dir, removed afterwards.
@dataclass
class RunningLab:
    plan: Plan
    runtime: Runtime

    def sh(self, netns: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{netns}", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ping(self, netns: str, address: str) -> str:
        out = self.sh(netns, "ping", "-c1", "-W2", address)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def ip(self, pod: str) -> str:
        found = self.runtime.get(pod)
        assert found is not None
        return found.addresses()[0].split("/")[0]


def new_plan(tmp_path: Path, nodes: int = 2) -> Plan:
    return make_plan(nodes, prefix=f"pt{uuid.uuid4().hex[:6]}", state_dir=tmp_path / "state")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[RunningLab]:
    plan = build.up(new_plan(tmp_path))
    try:
        yield RunningLab(plan, Runtime(plan))
    finally:
        build.down(plan)

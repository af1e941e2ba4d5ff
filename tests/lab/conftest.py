"""A whole embedded lab per test, under its own prefix and state dir, removed afterwards."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.cluster import build
from lab.cluster.plan import Plan, make_plan
from lab.runtime.pods import Runtime

pytestmark = pytest.mark.root


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

"""`up` starts a pycni daemon per node: one that dies is an error, a slow one is not."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.cluster import build
from lab.cluster.plan import Plan
from lab.kernel.netns import create_netns, delete_netns
from lab.pycni.daemon_control import processes_in
from tests.conftest import new_plan

pytestmark = pytest.mark.root


@pytest.fixture
def plan(tmp_path: Path) -> Iterator[Plan]:
    """A plan whose node namespaces exist and whose `pycni` is the test's stand-in."""
    plan = new_plan(tmp_path, nodes=1)
    for node in plan.nodes:
        os.makedirs(node.state_dir, exist_ok=True)
        create_netns(node.netns)
    os.makedirs(plan.bin_dir, exist_ok=True)
    try:
        yield plan
    finally:
        for node in plan.nodes:
            delete_netns(node.netns)


def stand_in(plan: Plan, script: str) -> None:
    pycni = Path(plan.bin_dir, "pycni")
    pycni.write_text(f"#!/bin/sh\n{script}\n")
    pycni.chmod(0o755)


def test_a_daemon_that_exits_before_naming_itself_fails_the_lab(
    plan: Plan, caplog: pytest.LogCaptureFixture
) -> None:
    stand_in(plan, "echo 'cannot import pyroute2' >&2; exit 3")
    exited = r"pycni daemon on node1 exited \(3\)"
    with caplog.at_level(logging.ERROR), pytest.raises(build.LabError, match=exited) as e:
        build.start_daemons(plan, wait=30)
    log = Path(str(e.value).rsplit("see ", 1)[1])
    assert "cannot import pyroute2" in log.read_text()  # the log the error names holds why
    assert "cannot import pyroute2" in caplog.text  # and the server's log, as `up` removes it


def test_a_daemon_still_importing_at_the_bound_is_left_to_finish(
    plan: Plan, caplog: pytest.LogCaptureFixture
) -> None:
    stand_in(plan, "exec sleep 30")  # never names itself, never exits in time
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="lab.cluster.build"):
        build.start_daemons(plan, wait=0.5)
    assert time.monotonic() - started < 10
    assert "still starting" in caplog.text and "node1" in caplog.text
    netns_path = plan.nodes[0].netns_path
    pids = processes_in(netns_path, ("sleep",))
    assert pids, "the slow daemon was left running, in the node's namespace"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

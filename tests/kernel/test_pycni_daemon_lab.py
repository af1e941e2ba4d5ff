"""A lab's `pycni daemon`s: the ones `up` starts, the ones pycni starts, and `down` ending both."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lab.cluster import build
from lab.live.status import status_of
from lab.pycni.daemon_control import daemons_in
from lab.runtime.pods import Runtime
from tests.conftest import new_plan


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_lab_without_daemons_gets_one_from_its_first_pod_and_down_ends_it(
    tmp_path: Path,
) -> None:
    plan = build.up(new_plan(tmp_path), daemons=False)  # as a check's throwaway lab
    try:
        node1, node2 = plan.nodes
        assert not daemons_in(node1.netns_path) and not daemons_in(node2.netns_path)
        assert [n["daemon"] for n in status_of(plan)["nodes"]] == [False, False]
        Runtime(plan).add("first", node=node1.name)
        deadline = time.monotonic() + 30
        while not daemons_in(node1.netns_path):
            assert time.monotonic() < deadline, "pycni started no daemon in node1"
            time.sleep(0.05)
        (started,) = daemons_in(node1.netns_path)
        assert daemons_in(node2.netns_path) == []  # one per node, where the call ran
        assert [n["daemon"] for n in status_of(plan)["nodes"]] == [True, False]
    finally:
        build.down(plan)
    assert not _alive(started), "down left pycni's own daemon running"
    assert not any(os.path.exists(n.netns_path) for n in plan.nodes)

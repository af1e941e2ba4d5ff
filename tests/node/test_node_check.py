"""Checks on the Vagrant lab: the app shows node agents and no embedded lab is up, so a
step's check runs in an embedded lab inside node1 (its own prefix and state dir), made
on the first Check and kept for the next, and the API says where before and during the
check. The namespace the app runs in (node1's own, on a VM) is left as it was."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from lab.agent.client import AgentRef
from lab.cluster import build
from lab.cluster.plan import load_plan
from lab.kernel.netns import list_netns
from tests.app.conftest import make_app

pytestmark = pytest.mark.root

STEP = "skeleton"
PIN = "ab" * 32
AGENTS = [
    AgentRef("node1", "https://192.0.2.11:8081", "t", PIN),  # never reached: the graph is off
    AgentRef("node2", "https://192.0.2.12:8081", "t", PIN),
]


@pytest.fixture
def vagrant_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("CNILAB_WORKSPACE", str(tmp_path / "work"))
    check_dir = tmp_path / "check-lab"
    prefix = f"pc{uuid.uuid4().hex[:6]}"
    app = make_app(
        tmp_path / "state",
        AGENTS=AGENTS,
        LOCAL_NODE="node1",
        CHECK_LAB_DIR=str(check_dir),
        CHECK_LAB_PREFIX=prefix,
    )
    try:
        yield app
    finally:
        build.down(load_plan(check_dir))
        assert not [ns for ns in list_netns() if ns.startswith(f"{prefix}-")]


def own_network() -> str:
    """What a check must never change: this namespace's addresses and routes."""
    out = [subprocess.run(["ip", *argv], capture_output=True, text=True, check=True).stdout
           for argv in (["-o", "addr"], ["route", "show", "table", "all"], ["rule"])]  # fmt: skip
    return "\n".join(out)


def check(app: Flask) -> list[dict[str, object]]:
    answer = app.test_client().post(f"/api/editor/{STEP}/check", json={"which": "solution"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return [json.loads(line) for line in answer.get_data(as_text=True).splitlines()]


def test_where_a_check_runs(vagrant_app: Flask, tmp_path: Path) -> None:
    client = vagrant_app.test_client()
    where = client.get(f"/api/editor/{STEP}/where").get_json()
    assert where["kind"] == "node-lab" and where["node"] == "node1"
    assert where["text"] == (
        "checked on an embedded lab inside node1, because this step builds on namespaces"
    )
    assert where["vms"] == ""  # nothing of step 2 to see on the VMs themselves
    cross = client.get("/api/editor/cross-node/where").get_json()
    assert "TTL 62" in cross["vms"] and "cnilab node pod add" in cross["vms"]
    assert b'data-testid="check-where"' in client.get("/exercises/2").data
    alone = make_app(tmp_path / "alone").test_client()  # no agents, no lab: nowhere
    refused = alone.get(f"/api/editor/{STEP}/where")
    assert refused.status_code == 409 and "no lab is up" in refused.get_json()["error"]


def test_a_check_runs_in_an_embedded_lab_inside_node1_kept_for_the_next(
    vagrant_app: Flask,
) -> None:
    before = own_network()
    first = check(vagrant_app)
    assert first[0]["event"] == "where" and first[0]["kind"] == "node-lab"
    assert first[1] == {"event": "prepared", "text": "made the embedded lab inside node1"}
    assert first[-1]["event"] == "report" and first[-1]["passed"] is True, first[-1]
    plan = load_plan(vagrant_app.config["CHECK_LAB_DIR"])
    assert plan is not None and plan.prefix == vagrant_app.config["CHECK_LAB_PREFIX"]
    assert set(plan.namespaces()) <= set(list_netns())
    inode = Path(f"/run/netns/{plan.nodes[0].netns}").stat().st_ino

    second = check(vagrant_app)
    assert [e["event"] for e in second[:2]] == ["where", "assertion"]  # nothing made this time
    assert second[-1]["event"] == "report" and second[-1]["passed"] is True
    assert Path(f"/run/netns/{plan.nodes[0].netns}").stat().st_ino == inode  # the same lab
    assert own_network() == before

    build.down(plan)  # someone ran `cnilab down` in node1's terminal: the next Check remakes it
    third = check(vagrant_app)
    assert third[1]["event"] == "prepared" and third[-1]["passed"] is True

"""Slow motion and batches through the API, on a real lab: a manual step really holds the
plugin (the kernel has nothing of the next step yet), Next lets it go on, the touched
objects are the ones the kernel then has; a batch is all or none; each call's kernel
diff names what that call made, not what its neighbour made."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pyroute2 import IPRoute

from lab.cluster import build
from lab.kernel.netns import list_netns
from lab.runtime.pods import Runtime
from tests.app.conftest import make_app
from tests.conftest import RunningLab, new_plan

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def demo_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, RunningLab]]:
    plan = build.up(new_plan(tmp_path_factory.mktemp("demo")))
    app = make_app(Path(plan.state_dir), TOPOLOGY_SOURCE="inspector")
    try:
        yield app, RunningLab(plan, Runtime(plan))
    finally:
        from app.labstate import get_lab

        with app.app_context():
            get_lab().hub.stop()
        build.down(plan)


def links_in(netns: str) -> set[str]:
    with IPRoute(netns=netns, flags=0) as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def wait_demo(app: Flask, pred: Any, after: int = 0) -> tuple[int, dict[str, Any]]:
    from app.labstate import get_lab

    with app.app_context():
        hub = get_lab().hub
    version = after
    for _ in range(150):  # bounded: 150 looks of 0.2 s
        version, changed = hub.wait(version, 0.2)
        state = changed.get("demo")
        if state is not None and pred(state):
            return version, state
    raise AssertionError("the demo never got there")


def test_manual_steps_hold_the_plugin_until_next(demo_lab: tuple[Flask, RunningLab]) -> None:
    app, lab = demo_lab
    client = app.test_client()
    node_ns = lab.plan.node("node2").netns
    pod_ns = lab.plan.pod_netns("slow")
    answer: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: answer.update(
            r=client.post("/api/pods", json={"name": "slow", "node": "node2", "manual": True})
        ),
        daemon=True,
    )
    thread.start()
    assert client.post("/api/demo/next", json={"session": "nope"}).status_code == 409
    version, state = wait_demo(app, lambda s: s["waiting"] and s["steps"])
    assert state["pod"] == "slow" and state["node"] == "node2"
    assert [s["step"] for s in state["steps"]] == ["bridge-ready"]
    assert state["steps"][0]["ids"] == [f"if:{node_ns}:cni0"]
    before = links_in(node_ns)
    seen = ["bridge-ready"]
    while True:
        assert client.post("/api/demo/next", json={"session": state["session"]}).status_code == 200
        version, state = wait_demo(
            app, lambda s: s["done"] or (s["waiting"] and len(s["steps"]) > len(seen)), version
        )
        if state["done"]:
            break
        step = state["steps"][-1]
        seen.append(step["step"])
        if step["step"] == "ip-reserved":  # paused here: no veth made yet
            assert links_in(node_ns) == before and links_in(pod_ns) == {"lo"}
        if step["step"] == "veth-created":
            (host_veth,) = links_in(node_ns) - before
            assert step["ids"] == [f"if:{node_ns}:{host_veth}", f"if:{pod_ns}:eth0", f"ns:{pod_ns}"]
            assert (
                f"ip link add {host_veth} type veth peer name eth0 netns {pod_ns}"
                in step["commands"]
            )
    thread.join(30)
    assert answer["r"].status_code == 201, answer["r"].get_json()
    assert seen == [
        "bridge-ready",
        "ip-reserved",
        "veth-created",
        "veth-attached",
        "pod-addressed",
        "gateway-ready",
    ]
    ip = lab.ip("slow")
    addressed = state["steps"][4]
    assert f"ip -n {pod_ns} addr add {ip}/24 dev eth0" in addressed["commands"]
    assert {
        "kind": "address",
        "in": "pod",
        "link": "eth0",
        "address": f"{ip}/24",
        "netns": pod_ns,
    } in addressed["touched"]
    lab.ping(pod_ns, "10.244.1.1")


def test_a_batch_is_all_or_none(demo_lab: tuple[Flask, RunningLab]) -> None:
    app, lab = demo_lab
    client = app.test_client()
    made = client.post("/api/pods", json={"name": "bt", "count": 3, "node": "node1"})
    assert made.status_code == 201, made.get_json()
    names = [p["name"] for p in made.get_json()["pods"]]
    assert names == ["bt-1", "bt-2", "bt-3"]
    assert all(lab.plan.pod_netns(n) in list_netns() for n in names)
    lab.ping(lab.plan.pod_netns("bt-1"), lab.ip("bt-3"))
    pods_before = sorted(p.name for p in lab.runtime.list())
    for body, wrong in [
        ({"name": "bt", "count": 2}, "'bt-1' exists already"),
        ({"name": "Bad", "count": 2}, "invalid pod name 'Bad-1'"),
        ({"name": "x", "count": 0}, "'count' must be"),
        ({"name": "x", "count": 251}, "'count' must be"),
        ({"name": "x", "count": "3"}, "'count' must be"),
        ({"name": "x", "manual": "yes"}, "'manual' must be"),
    ]:
        bad = client.post("/api/pods", json=body)
        assert bad.status_code == 400 and wrong in bad.get_json()["error"], bad.get_json()
    assert sorted(p.name for p in lab.runtime.list()) == pods_before


def test_a_batch_that_fails_half_way_removes_what_it_made(
    demo_lab: tuple[Flask, RunningLab],
) -> None:
    from lab.runtime.batch import add_batch
    from lab.runtime.pods import PodError

    _, lab = demo_lab
    made: list[str] = []

    def add(name: str) -> Any:
        if name == "half-3":
            raise PodError("ADD of half-3 failed: on purpose")
        made.append(name)
        return lab.runtime.add(name, "node2")

    with pytest.raises(PodError, match=r"batch half: ADD of half-3 failed.*2 made before"):
        add_batch(lab.runtime, "half", 4, add=add)
    assert made == ["half-1", "half-2"]
    assert not [n for n in list_netns() if "half-" in n]
    assert lab.runtime.get("half-1") is None and lab.runtime.get("half-2") is None


def test_each_call_has_its_own_kernel_diff(demo_lab: tuple[Flask, RunningLab]) -> None:
    app, lab = demo_lab
    client = app.test_client()
    assert client.get("/api/topology").status_code == 200  # the watcher runs
    for name in ("kd-a", "kd-b"):
        assert client.post("/api/pods", json={"name": name, "node": "node1"}).status_code == 201
    assert client.delete("/api/pods/kd-a").status_code == 200
    a_ns, b_ns = lab.plan.pod_netns("kd-a"), lab.plan.pod_netns("kd-b")
    node_ns = lab.plan.node("node1").netns

    def diff_of(command: str, pod_ns: str) -> dict[str, Any]:
        for _ in range(60):  # bounded: the diff comes once the call has settled
            for rec in client.get("/api/calls?limit=20").get_json():
                netns = rec["env"].get("CNI_NETNS", "")
                if rec["command"] == command and netns.endswith(pod_ns) and rec["kernel"]:
                    return rec["kernel"]
            threading.Event().wait(0.25)
        raise AssertionError(f"no kernel diff for {command} {pod_ns}")

    def objects(diff: dict[str, Any]) -> set[tuple[str, str, str, str]]:
        return {(c["op"], c["kind"], c["netns"], c["what"]) for c in diff["changes"]}

    add_a, add_b, del_a = diff_of("ADD", a_ns), diff_of("ADD", b_ns), diff_of("DEL", a_ns)
    ip_b = lab.ip("kd-b")
    assert ("created", "link", b_ns, "eth0") in objects(add_b)
    assert ("created", "address", b_ns, f"{ip_b}/24") in objects(add_b)
    assert ("created", "route", b_ns, "default via 10.244.0.1 dev eth0") in objects(add_b)
    assert any(
        op == "created" and k == "link" and ns == node_ns and w.startswith("veth")
        for op, k, ns, w in objects(add_b)
    )
    assert not any(ns == a_ns for _, _, ns, _ in objects(add_b))  # the neighbour's call
    assert any(ns == a_ns and k == "address" for _, k, ns, _ in objects(add_a))
    assert ("removed", "link", a_ns, "eth0") in objects(del_a) or (
        "removed",
        "netns",
        a_ns,
        a_ns,
    ) in objects(del_a)
    assert not any(ns == b_ns for _, _, ns, _ in objects(del_a))

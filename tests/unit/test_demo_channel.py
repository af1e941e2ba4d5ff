"""Slow motion's channel without root: pycni's DemoLink talking to the runtime's
DemoSession over a real unix socket, the validation of the `demo` capability arg, the
batch names, and the kernel diff of hand-made snapshots."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import pytest

from lab.cni.errors import CNIError
from lab.live.call_changes import CallDiffer, call_key
from lab.live.demo import DemoBoard, DemoSession, resolve
from lab.live.hub import Hub
from lab.live.kernel_diff import kernel_changes
from lab.pycni import narration
from lab.pycni.conf import parse_demo
from lab.pycni.demo import DemoLink, DemoOptions, Step
from lab.runtime.batch import batch_names
from lab.runtime.pods import PodError

CONTEXT = {"command": "ADD", "container_id": "c1", "ifname": "eth0", "netns": "/run/netns/p-web"}


def wait_state(hub: Hub, pred: Any, after: int = 0) -> tuple[int, dict[str, Any]]:
    """The first "demo" state that satisfies `pred` (bounded: 50 looks of 0.2 s)."""
    version = after
    for _ in range(50):
        version, changed = hub.wait(version, 0.2)
        state = changed.get("demo")
        if state is not None and pred(state):
            return version, state
    raise AssertionError("the demo state never got there")


def test_each_step_reaches_the_hub_resolved_to_graph_ids() -> None:
    hub = Hub()
    with DemoSession(hub.publish, delay=0.01) as session:
        cap = session.capability("web", "node1", "p-node1", "p-web")
        assert cap["events"] == session.path and cap["manual"] is False
        link = DemoLink(DemoOptions(**cap), CONTEXT)
        link.report(narration.veth_created("veth0123", "eth0", "/run/netns/p-web", None))
        link.report(narration.veth_attached("veth0123", "cni0", hairpin=True))
        link.close()
        _, state = wait_state(hub, lambda s: len(s["steps"]) == 2)
    first, second = state["steps"]
    assert (state["pod"], state["node"], state["index"]) == ("web", "node1", 1)
    assert first["step"] == "veth-created" and first["command"] == "ADD"
    assert first["ids"] == ["if:p-node1:veth0123", "if:p-web:eth0", "ns:p-web"]
    assert first["commands"] == ["ip link add veth0123 type veth peer name eth0 netns p-web"]
    assert second["ids"] == ["if:p-node1:veth0123", "if:p-node1:cni0"]
    assert "bridge link set dev veth0123 hairpin on" in second["commands"]
    assert [s["n"] for s in state["steps"]] == [1, 2]


def test_manual_steps_wait_for_next_and_a_closed_session_lets_go() -> None:
    hub = Hub()
    board = DemoBoard()
    session = DemoSession(hub.publish, manual=True)
    board.add(session)
    cap = session.capability("db", "node2", "p-node2", "p-db")
    link = DemoLink(DemoOptions(**cap), CONTEXT)
    done: list[str] = []

    def plugin() -> None:
        for name in ("one", "two", "three"):
            link.report(Step(name, f"step {name}"))
            done.append(name)

    thread = threading.Thread(target=plugin, daemon=True)
    thread.start()
    version, state = wait_state(hub, lambda s: s["waiting"])
    assert [s["step"] for s in state["steps"]] == ["one"] and done == []
    assert board.next("no-such-session") is False
    assert board.next(session.id) is True
    version, state = wait_state(hub, lambda s: s["waiting"] and len(s["steps"]) == 2, version)
    assert done == ["one"]
    session.close()  # the presenter went away: the plugin must not hang
    thread.join(10)
    assert not thread.is_alive() and done == ["one", "two", "three"]
    assert session.next() is False


def test_junk_on_the_socket_is_ignored_and_a_missing_socket_only_pauses() -> None:
    hub = Hub()
    with DemoSession(hub.publish) as session:
        session.capability("web", "node1", "p-node1", "p-web")
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        raw.connect(session.path)
        raw.send(b"not json")
        raw.send(b"[1, 2]")
        raw.send(
            json.dumps({"step": "real", "touched": ["x", {"kind": "netns", "in": "pod"}]}).encode()
        )
        _, state = wait_state(hub, lambda s: len(s["steps"]) == 1)
        raw.close()
    assert state["steps"][0]["step"] == "real" and state["steps"][0]["ids"] == ["ns:p-web"]
    gone = DemoLink(DemoOptions(events=session.path), CONTEXT)  # removed at close
    assert gone.sock is None
    gone.report(Step("alone", "nobody listens"))  # no error, no wait


def test_resolve_puts_each_object_where_it_lives() -> None:
    objects, ids = resolve(
        [
            {"kind": "address", "in": "pod", "address": "10.244.0.5/24"},
            {"kind": "address", "in": "node", "link": "cni0", "address": "10.244.0.1/24"},
            {"kind": "route", "in": "pod", "dst": "0.0.0.0/0", "link": "eth0"},
            {"kind": "rule", "in": "node", "tag": "net c1 eth0"},
            "not an object",
        ],
        "n1",
        "p1",
    )
    assert ids == ["ns:p1", "if:n1:cni0", "if:p1:eth0", "ns:n1"]
    assert [o["netns"] for o in objects] == ["p1", "n1", "p1", "n1"]


@pytest.mark.parametrize(
    ("demo", "wrong"),
    [
        ({"events": "relative.sock"}, "demo.events"),
        ({"events": "/" + "x" * 120}, "demo.events"),
        ({"manual": "yes"}, "demo.manual"),
        ({"delay": 11}, "demoDelay"),
        ({"delay": True}, "demoDelay"),
        ("fast", "runtimeConfig.demo"),
    ],
)
def test_a_bad_demo_arg_is_a_config_error(demo: Any, wrong: str) -> None:
    with pytest.raises(CNIError) as e:
        parse_demo({}, {"demo": demo})
    assert e.value.code == 7 and wrong in e.value.msg


def test_the_runtime_arg_wins_over_the_conflist() -> None:
    assert parse_demo({"demoDelay": 2}, {}) == DemoOptions(2.0)
    got = parse_demo({"demoDelay": 2}, {"demo": {"delay": 0.5, "events": "/run/x.sock"}})
    assert got == DemoOptions(0.5, "/run/x.sock", False)


def test_narration_commands_name_the_real_objects() -> None:
    from ipaddress import ip_interface, ip_network

    from lab.cni.result import IPConfig, Route

    ips = [IPConfig(address=ip_interface("10.244.1.7/24"), gateway=ip_interface("10.244.1.1").ip)]
    routes = [Route(dst=ip_network("0.0.0.0/0"), gw=ip_interface("10.244.1.1").ip)]
    step = narration.pod_addressed("/run/netns/p-db", "eth1", ips, routes)
    assert step.commands == [
        "ip -n p-db addr add 10.244.1.7/24 dev eth1",
        "ip -n p-db link set eth1 up",
        "ip -n p-db route add default via 10.244.1.1 dev eth1",
    ]
    odd = narration.in_pod("/proc/42/ns/net", "link", "show")
    assert odd == "nsenter --net=/proc/42/ns/net ip link show"
    masq = narration.masquerade_added("net c1 eth1", ips, "pycni", "postrouting")
    assert masq.commands == [
        "nft add rule inet pycni postrouting ip saddr 10.244.1.7 ip daddr '!=' "
        "'{ 10.244.1.0/24, 224.0.0.0/4 }' masquerade comment 'net c1 eth1'"
    ]


@pytest.mark.parametrize(
    ("name", "count", "wrong"),
    [
        ("web", 0, "count"),
        ("web", 251, "count"),
        ("web", True, "count"),
        ("Web", 2, "invalid pod name 'Web-1'"),
        ("a" * 39, 10, "invalid pod name"),
        ("node", 1, None),
    ],
)
def test_batch_names(name: str, count: Any, wrong: str | None) -> None:
    if wrong is None:
        assert batch_names(name, count) == [f"{name}-1"]
        assert batch_names("w", 3) == ["w-1", "w-2", "w-3"]
        return
    with pytest.raises(PodError, match=wrong):
        batch_names(name, count)


# -- the kernel diff ---------------------------------------------------------------------
def ns(name: str, **attrs: Any) -> dict[str, Any]:
    base = {"routes": [], "neighbours": [], "kind": "pod", "node": "node1"}
    return {"id": f"ns:{name}", "type": "namespace", "name": name, **base, **attrs}


def iface(netns: str, name: str, **attrs: Any) -> dict[str, Any]:
    base = {"kind": "veth", "up": True, "operstate": "UP", "mtu": 1500, "addresses": []}
    return {
        "id": f"if:{netns}:{name}",
        "type": "interface",
        "ns": netns,
        "name": name,
        **base,
        **attrs,
    }


def snap(taken: float, *nodes: dict[str, Any]) -> dict[str, Any]:
    return {"graph": {"taken_at": taken}, "nodes": list(nodes), "edges": []}


NEIGH = [{"ip": "10.244.0.9", "mac": "aa:aa", "dev": "cni0", "state": "reachable"}]
BRIDGE = iface("n1", "cni0", kind="bridge", addresses=["10.244.0.1/24"], fdb=[])
NODE = ns("n1", kind="node", neighbours=NEIGH, masquerade=[])
OTHER = ns("p-old")  # a pod that was there before and stays as it is


def with_pod() -> dict[str, Any]:
    fdb = [
        {"mac": "02:00:00:00:00:07", "port": "if:n1:vethabc", "vlan": None, "state": "reachable"}
    ]
    default = {"dst": "default", "gateway": "10.244.0.1", "dev": "eth0"}
    rule = {"family": "inet", "table": "pycni", "chain": "postrouting", "handle": 4, "comment": "t"}
    return snap(
        2.0,
        {**NODE, "masquerade": [rule]},
        {**BRIDGE, "fdb": fdb},
        iface("n1", "vethabc", master="if:n1:cni0"),
        ns("p-web", routes=[default]),
        iface("p-web", "eth0", addresses=["10.244.0.7/24"]),
        OTHER,
    )


def test_kernel_changes_of_a_pod_made() -> None:
    before = snap(1.0, NODE, BRIDGE, OTHER)
    got = {(c["op"], c["kind"], c["netns"], c["what"]) for c in kernel_changes(before, with_pod())}
    assert got == {
        ("created", "netns", "p-web", "p-web"),
        ("created", "link", "n1", "vethabc"),
        ("created", "link", "p-web", "eth0"),
        ("created", "address", "p-web", "10.244.0.7/24"),
        ("created", "route", "p-web", "default via 10.244.0.1 dev eth0"),
        ("created", "fdb", "n1", "02:00:00:00:00:07 port vethabc"),
        ("created", "nft", "n1", "inet pycni postrouting 't'"),
    }
    back = {(c["op"], c["kind"], c["what"]) for c in kernel_changes(with_pod(), before)}
    assert ("removed", "link", "eth0") in back and (
        "removed",
        "nft",
        "inet pycni postrouting 't'",
    ) in back
    assert not any(op == "created" for op, _, _ in back)


def test_kernel_changes_see_values_not_only_keys() -> None:
    moved = [{**NEIGH[0], "mac": "bb:bb", "state": "stale"}]
    after = snap(2.0, {**NODE, "neighbours": moved}, {**BRIDGE, "up": False}, OTHER)
    got = kernel_changes(snap(1.0, NODE, BRIDGE, OTHER), after)
    assert [(c["op"], c["kind"], c["what"]) for c in got] == [
        ("changed", "link", "cni0"),
        ("changed", "neighbour", "10.244.0.9 dev cni0"),
    ]
    assert "down" in got[0]["detail"] and got[1]["detail"] == "bb:bb stale"
    assert kernel_changes(after, after) == []


def record(start: float, end: float, cid: str, pod: str = "p-web") -> dict[str, Any]:
    return {"time": end, "ms": (end - start) * 1000, "node": "node1", "network": "net",
            "plugin": "pycni", "command": "ADD", "container_id": cid, "ifname": "eth0",
            "env": {"CNI_NETNS": f"/run/netns/{pod}"}}  # fmt: skip


def test_each_call_gets_the_changes_made_while_it_ran() -> None:
    differ = CallDiffer()
    early = record(0.1, 0.2, "early")  # before anything watched
    first, second = record(1.5, 2.5, "a"), record(3.0, 4.0, "b", "p-db")
    differ.snapshot(snap(1.0, NODE, BRIDGE, OTHER))
    differ.snapshot(with_pod())  # taken at 2.0, during the first call
    third = snap(3.5, *with_pod()["nodes"], ns("p-db"))
    differ.snapshot(third)
    differ.calls([early, first, second])
    assert differ.ready(3.0) == {}  # the first has not settled yet (ends 2.5 + 1 s)
    got = differ.ready(10.0)
    assert set(got) == {call_key(first), call_key(second)}
    a = {(c["kind"], c["what"]) for c in got[call_key(first)]["changes"]}
    b = {(c["kind"], c["what"]) for c in got[call_key(second)]["changes"]}
    assert ("netns", "p-web") in a and ("netns", "p-db") not in a
    assert b == {("netns", "p-db")}
    assert not got[call_key(first)]["overlap"]


def test_overlapping_calls_are_marked() -> None:
    differ = CallDiffer()
    differ.snapshot(snap(1.0, NODE))
    one, two = record(2.0, 4.0, "x"), record(3.0, 5.0, "y")
    differ.calls([one, two])
    got = differ.ready(10.0)
    assert got[call_key(one)]["overlap"] and got[call_key(two)]["overlap"]


def test_call_key_writes_time_as_javascript_does() -> None:
    assert call_key(record(4.0, 5.0, "c")).startswith("5|node1|net|pycni|ADD|c|eth0")
    assert call_key(record(4.0, 5.25, "c")).startswith("5.25|")

"""The Watcher on a real lab: new links, routes and pods show up, removed ones go."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

from lab.inspect import Inspector, Snapshot, Watcher, ns_id
from tests.inspect.conftest import Lab
from tests.kernel.conftest import Node

pytestmark = pytest.mark.root

# The aim (visible within 500 ms) is measured by bench/inspect_snapshot.py, not asserted
# here: a test only proves the change arrives by itself, with room for a busy machine.
NOTICE_WITHIN = 3.0
SETTLE = 10.0  # for what the kernel does at its own pace (a namespace's teardown)


@pytest.fixture
def watcher(lab: Lab) -> Iterator[Watcher]:
    with Inspector(lab.plan) as inspector, Watcher(inspector) as w:
        assert w.wait(timeout=SETTLE) is not None
        yield w


def _routes(snap: Snapshot, netns: str) -> dict[str, dict]:
    return {r["dst"]: r for r in snap.graph.nodes[ns_id(netns)]["routes"]}


def test_new_veth_is_published_by_itself(lab: Lab, watcher: Watcher) -> None:
    node = lab.nodes[0]
    start = time.monotonic()
    out = node.sh("ip", "link", "add", "vnew", "type", "veth", "peer", "name", "vnew-peer")
    assert not out.strip(), out

    snap = watcher.wait_for(lambda s: s.interface(node.name, "vnew") is not None, NOTICE_WITHIN)
    assert snap is not None, f"not seen within {time.monotonic() - start:.3f} s"
    assert snap.interface(node.name, "vnew")["peer"] == f"if:{node.name}:vnew-peer"
    assert snap.interface(node.name, "vnew-peer")["peer"] == f"if:{node.name}:vnew"


def test_new_route_is_published_by_itself(lab: Lab, watcher: Watcher) -> None:
    node = lab.nodes[1]
    out = node.sh("ip", "route", "add", "172.16.9.0/24", "via", "192.168.56.11")
    assert not out.strip(), out

    snap = watcher.wait_for(lambda s: "172.16.9.0/24" in _routes(s, node.name), NOTICE_WITHIN)
    assert snap is not None
    assert _routes(snap, node.name)["172.16.9.0/24"]["dev"] == "eth1"


def test_new_pod_appears_with_its_owner(lab: Lab, watcher: Watcher) -> None:
    pod = lab.add_pod(1, "cid-live")

    def complete(s: Snapshot) -> bool:
        eth0 = s.interface(pod.netns, "eth0")
        attrs = s.graph.nodes.get(ns_id(pod.netns))
        return bool(eth0 and eth0["peer"] and attrs["pod"])

    snap = watcher.wait_for(complete, SETTLE)
    assert snap is not None
    assert snap.interface(pod.netns, "eth0")["peer"] == f"if:{pod.node.name}:{pod.host_veth}"
    assert snap.graph.nodes[ns_id(pod.netns)]["pod"]["container_id"] == "cid-live"


def test_removed_pod_namespace_disappears_and_is_released(lab: Lab, watcher: Watcher) -> None:
    pod = next(iter(lab.pods.values()))
    lab.namespaces.remove(pod.netns)

    gone = watcher.wait_for(lambda s: ns_id(pod.netns) not in s.graph, NOTICE_WITHIN)
    assert gone is not None
    # Our socket no longer holds the namespace: the kernel tears it down, veth included.
    released = watcher.wait_for(lambda s: s.interface(pod.node.name, pod.host_veth) is None, SETTLE)
    assert released is not None


def test_changes_yields_the_current_snapshot_then_ends_when_quiet(watcher: Watcher) -> None:
    # Fresh links still teach bridges new MACs now and then: expect newer ones, in order.
    first = watcher.latest
    got = list(watcher.changes(timeout=0.3))  # ends after 0.3 s without anything new
    assert got[0].seq >= first.seq
    assert [s.seq for s in got] == sorted({s.seq for s in got})
    later = list(watcher.changes(timeout=0.1, after=got[-1].seq))
    assert all(s.seq > got[-1].seq for s in later)


def test_callbacks_and_diff(lab: Lab, watcher: Watcher) -> None:
    seen: list[Snapshot] = []
    unsubscribe = watcher.on_change(seen.append)
    before = watcher.latest
    out = lab.nodes[0].sh("ip", "link", "add", "br7", "type", "bridge")
    assert not out.strip(), out
    snap = watcher.wait_for(lambda s: s.interface(lab.nodes[0].name, "br7") is not None, SETTLE)
    unsubscribe()
    assert snap in seen
    diff = snap.diff(before)
    br7 = f"if:{lab.nodes[0].name}:br7"
    assert br7 in diff.added
    assert (br7, ns_id(lab.nodes[0].name), "member") in diff.added_edges  # ends sorted


def test_stop_ends_the_thread_and_close_frees_every_fd(lab: Lab) -> None:
    before = len(os.listdir("/proc/self/fd"))
    inspector = Inspector(lab.plan)
    watcher = Watcher(inspector).start()
    assert watcher.wait(timeout=SETTLE) is not None
    assert watcher.running
    watcher.stop()
    assert not watcher.running
    assert watcher.error is None
    inspector.close()
    assert len(os.listdir("/proc/self/fd")) == before


def _arp(snap: Snapshot | None) -> Snapshot:
    """Without NOARP neighbours: the kernel makes multicast ones (IGMP's 224.0.0.22) by
    itself and silently, so no reading on notifications can promise them."""
    assert snap is not None
    nodes = tuple(
        {**n, "neighbours": [x for x in n["neighbours"] if x["state"] != "NOARP"]}
        if "neighbours" in n
        else n
        for n in snap.nodes
    )
    return Snapshot(snap.seq, snap.taken_at, snap.took, nodes, snap.edges)


def _differences(snap: Snapshot, full: Snapshot) -> str:
    d = snap.diff(full)
    lines = [f"the watcher's snapshot differs from a full reading: {d}"]
    for node_id in d.changed:
        mine, theirs = snap.node(node_id) or {}, full.node(node_id) or {}
        keys = [k for k in theirs if mine.get(k) != theirs[k]]
        lines += [f"{node_id}.{k}: {mine.get(k)!r} != {theirs[k]!r}" for k in keys]
    return "\n".join(lines)


def test_reading_only_what_notifications_name_misses_nothing(lab: Lab, watcher: Watcher) -> None:
    """The watcher re-reads only the kinds a namespace's notifications were about; what
    it publishes must still equal a full reading, also where the kernel says nothing
    (the routes of a deleted link) or says it elsewhere (a new bridge's FDB)."""
    node = lab.nodes[0]
    pod = lab.add_pod(0, "cid-parts")
    assert " 0% packet loss" in node.sh("ping", "-c1", "-W2", "10.244.0.1", netns=pod.netns)
    for cmd in (
        ("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d0p"),
        ("ip", "link", "set", "d0p", "up"),
        ("ip", "link", "set", "d0", "up"),
        ("ip", "route", "add", "172.30.0.0/24", "dev", "d0"),  # no address: no kernel route
        ("ip", "link", "add", "br9", "type", "bridge"),
        ("ip", "link", "add", "v9", "type", "veth", "peer", "name", "v9p"),
        ("ip", "link", "set", "v9", "master", "br9", "up"),
    ):
        assert not node.sh(*cmd).strip(), cmd

    def routed_and_bridged(s: Snapshot) -> bool:
        """The route and the new bridge's FDB (v9's own address) both read; the commands
        above may reach the watcher in more than one publication."""
        bridge = s.interface(node.name, "br9")
        return "172.30.0.0/24" in _routes(s, node.name) and bool(bridge and bridge["fdb"])

    assert watcher.wait_for(routed_and_bridged, SETTLE) is not None, "no br9 FDB or route"
    assert not node.sh("ip", "link", "del", "d0").strip()  # its routes go unannounced
    with Inspector(lab.plan) as fresh:
        same = watcher.wait_for(lambda s: _arp(s).same_content(_arp(fresh.snapshot())), SETTLE)
        full = fresh.snapshot()
    assert same is not None, _differences(_arp(watcher.latest), _arp(full))
    assert "172.30.0.0/24" not in _routes(same, node.name)
    assert same.interface(node.name, "d0") is None


def _batch(node: Node, lines: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False) as batch:
        batch.write("\n".join(lines) + "\n")
    try:
        out = node.sh("ip", "-batch", batch.name)
    finally:
        os.unlink(batch.name)
    assert not out.strip(), out


def test_link_changes_applied_from_notifications_equal_a_full_reading(
    lab: Lab, watcher: Watcher
) -> None:
    """Links are patched from their notifications (lab/inspect/links.py), not dumped:
    after each step the watcher's snapshot must equal a full reading."""
    node = lab.nodes[0]
    steps: list[tuple[str, list[str]]] = [
        ("a veth made", ["link add w0 type veth peer name w0p"]),
        ("its end renamed", ["link set w0p name w0q"]),
        (
            "up, with an address and a route",
            [
                "link set w0q up",
                "link set w0 up",
                "addr add 10.77.0.1/24 dev w0",
                "route add 172.29.0.0/24 via 10.77.0.2",
            ],
        ),
        ("set down: its routes vanish unannounced", ["link set w0 down"]),
        ("a port joining a bridge", ["link set w0q master cni0"]),
        ("the port leaving it (AF_BRIDGE RTM_DELLINK)", ["link set w0q nomaster"]),
        ("deleted", ["link del w0"]),
        (
            "a burst",
            [f"link add x{i} type veth peer name x{i}p" for i in range(40)]
            + [f"link set x{i} up" for i in range(0, 40, 2)]
            + [f"link del x{i}" for i in range(1, 40, 4)]
            + [f"link set x{i}p name y{i}" for i in range(2, 40, 8)],
        ),
    ]
    with Inspector(lab.plan) as fresh:
        for what, lines in steps:
            _batch(node, lines)
            same = watcher.wait_for(lambda s: _arp(s).same_content(_arp(fresh.snapshot())), SETTLE)
            assert same is not None, f"{what}: " + _differences(
                _arp(watcher.latest), _arp(fresh.snapshot())
            )
            if what.startswith("set down"):
                assert "172.29.0.0/24" not in _routes(same, node.name)
            if what.startswith("the port leaving"):
                assert same.interface(node.name, "w0q")["master"] is None


def test_namespaces_of_others_coming_and_going_cost_no_rescan(lab: Lab) -> None:
    """inotify names the entry: a namespace the inspector does not want (a test suite's,
    another lab's) wakes the watcher but makes it look for nothing."""
    from pyroute2 import netns

    inspector = Inspector(lab.plan)
    rescans: list[bool] = []
    refresh = inspector.refresh

    def spy(changed: object = None, force: bool = False, rescan: bool = True) -> Snapshot:
        rescans.append(rescan)
        return refresh(changed, force=force, rescan=rescan)  # type: ignore[arg-type]

    inspector.refresh = spy  # type: ignore[method-assign]
    other = f"other-{uuid.uuid4().hex[:6]}"
    with inspector, Watcher(inspector) as w:
        assert w.wait(timeout=SETTLE) is not None
        time.sleep(0.3)
        rescans.clear()
        netns.create(other)
        try:
            time.sleep(0.5)  # more than two periodic fingerprints
        finally:
            netns.remove(other)
        time.sleep(0.3)
        assert True not in rescans, rescans
        pod = lab.add_pod(1, "cid-wanted")  # one it wants still does
        assert w.wait_for(lambda s: s.node(ns_id(pod.netns)) is not None, SETTLE) is not None
        assert True in rescans

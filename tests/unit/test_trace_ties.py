"""Frames the kernel stamped a few microseconds out of order are put back causally."""

from __future__ import annotations

from lab.trace.capture import Frame
from lab.trace.hops import settle_ties
from lab.trace.packets import Seen


def frame(netns: str, ifname: str, out: bool, t: float, ttl: int) -> tuple[Frame, Seen]:
    seen = Seen("request", "", "", "10.244.0.2", "10.244.1.2", ttl, "")
    return Frame(netns, ifname, out, t, b""), seen


def names(frames: list[tuple[Frame, Seen]]) -> list[str]:
    return [f"{f.netns}:{f.ifname}:{'out' if f.outgoing else 'in'}" for f, _ in frames]


def test_a_veth_pair_stamped_backwards_is_put_in_order() -> None:
    stamped = [
        frame("underlay", "to-node1", False, 1.000000, 63),
        frame("node2", "eth0", False, 1.000003, 63),  # came in before it went out?
        frame("underlay", "to-node2", True, 1.000004, 63),
    ]
    assert names(settle_ties(stamped)) == [
        "underlay:to-node1:in",
        "underlay:to-node2:out",
        "node2:eth0:in",
    ]


def test_across_a_router_or_far_apart_nothing_moves() -> None:
    routed = [frame("node1", "veth1", False, 1.0, 64), frame("node1", "eth0", True, 1.0, 63)]
    assert settle_ties(routed) == routed
    apart = [frame("b", "eth0", False, 1.0, 62), frame("node2", "veth", True, 1.5, 62)]
    assert settle_ties(apart) == apart


def test_a_bridge_port_out_before_its_in_is_swapped() -> None:
    stamped = [frame("node1", "veth-b", True, 2.0, 64), frame("node1", "veth-a", False, 2.0, 64)]
    assert names(settle_ties(stamped)) == ["node1:veth-a:in", "node1:veth-b:out"]

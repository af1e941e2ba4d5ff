"""Step 6: two pods of the student's plugin on node1 talk, and the tracer shows how."""

from __future__ import annotations

from lab.exercises.checker import Checker
from lab.trace.tracer import trace


def check(c: Checker) -> None:
    with c.step("two pods on node1 come up with your plugin", hint=1):
        a = c.add_pod("a", "node1")
        b = c.add_pod("b", "node1")
    b_ip = b.addresses()[0].split("/")[0]

    with c.step(f"{a.name} pings {b.name}", hint=1):
        result = trace(c.plan, a.name, b.name)
        c.expect(result.replied, f"no reply. The tracer says: {result.why}")

    hops = [h for h in result.hops if h.leg == "request"]
    with c.step("the ping goes pod > veth > cni0 > veth > pod, bridged not routed", hint=2):
        where = [(h.netns, h.direction) for h in hops]
        node = c.plan.node("node1").netns
        c.expect(
            where
            == [(a.netns, "out"), (node, "in"), (node, "bridge"), (node, "out"), (b.netns, "in")],
            f"unexpected path: {where}",
        )
        c.expect(
            hops[2].ifname == "cni0" and "cni0" in hops[3].action,
            f"the node should bridge it through cni0: {hops[2].action}; {hops[3].action}",
        )
        c.expect({h.ttl for h in hops} == {64}, "a bridge does not decrement TTL")
        c.expect(hops[-1].dst_ip == b_ip, "the request must reach the second pod")

    with c.step("the reply comes back the same way", hint=2):
        back = [h.netns for h in result.hops if h.leg == "reply"]
        c.expect(back and back[0] == b.netns and back[-1] == a.netns, f"reply path: {back}")

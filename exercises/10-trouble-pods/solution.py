"""Step 10, the reference: an instructor's troubleshooter for the wiring faults.

The answer is random, so the reference is not an answers file: `diagnose` looks at
the lab the way the lesson teaches (the node's forwarding, then each pod's host end,
its MTU and its routes) and names what it finds; `fix` repairs exactly that. An
instructor reads a lab's answer with
`python -m lab.exercises.trouble_lab exercises/10-trouble-pods/solution.py /run/cnilab diagnose`.
"""

from __future__ import annotations

from typing import Any

BRIDGE = "cni0"


def answer(fault: str, node: str, obj: str = "") -> dict[str, str]:
    return {"fault": fault, "node": node, "object": obj}


def broken_pod(lab: Any, pod: str) -> dict[str, str] | None:
    """What is wrong with one pod's wiring, from the node's side in, or None."""
    node = lab.node_of(pod)
    end = lab.host_end(pod)
    if "UP" not in end["flags"]:
        return answer("veth-down", node, end["ifname"])
    if end.get("master") != BRIDGE:
        return answer("veth-detached", node, end["ifname"])
    eth0 = lab.ip(pod, "link", "show", "eth0")[0]
    if eth0["mtu"] != end["mtu"]:
        return answer("mtu-mismatch", node, pod)
    if not lab.ip(pod, "route", "show", "default"):
        return answer("pod-no-default-route", node, pod)
    return None


def diagnose(lab: Any) -> dict[str, str]:
    for node in lab.nodes:
        if lab.sysctl(node, "net.ipv4.ip_forward") != "1":
            return answer("forwarding-off", node)
    for pod in sorted(lab.pods):
        found = broken_pod(lab, pod)
        if found is not None:
            return found
    return answer("", "")


def fix(lab: Any) -> None:
    found = diagnose(lab)
    fault, node, obj = found["fault"], found["node"], found["object"]
    if fault == "forwarding-off":
        lab.sysctl(node, "net.ipv4.ip_forward", "1")
    elif fault in ("veth-down", "veth-detached"):
        with lab.iproute(node) as ipr:
            index = ipr.link_lookup(ifname=obj)[0]
            if fault == "veth-down":
                ipr.link("set", index=index, state="up")
            else:
                ipr.link("set", index=index, master=ipr.link_lookup(ifname=BRIDGE)[0])
    elif fault == "mtu-mismatch":
        mtu = lab.host_end(obj)["mtu"]
        with lab.iproute(obj) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="eth0")[0], mtu=mtu)
    elif fault == "pod-no-default-route":
        gateway = lab.plan.node(node).gateway
        with lab.iproute(obj) as ipr:
            ipr.route("add", dst="0.0.0.0", dst_len=0, gateway=gateway)

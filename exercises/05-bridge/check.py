"""Step 5: the student's `setup_node(pod_cidr)` builds each node's cni0, its gateway and
forwarding, in a throwaway lab whose nodes have none of it.

The student's file runs in a child process inside the node's namespace (as the lab's
own set-up would on a real node): a crash is reported with the line of their file,
and their code never runs inside the checker. The check then tries to break it: a
second run must change nothing (netlink events are counted, so a flush and re-add
shows even though the end state looks the same), a node where cni0 was left wrong
must be fixed without touching the node's other links, an odd pod CIDR must give its
own gateway, a host address must be refused, and pods must actually work on it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
from typing import Any

from lab.cluster.plan import Node, Plan
from lab.exercises.checker import Checker
from lab.exercises.student_call import FunctionRun
from lab.kernel.netns import run_in_netns
from lab.runtime.pods import Runtime

BRIDGE = "cni0"
DECOY, DECOY_ADDRESS = "decoy0", "10.99.0.1/24"
ODD_CIDR = "10.244.5.128/25"  # not a /24, and its .1 is not its gateway

RTM_NAMES = {17: "removed link", 20: "added address", 21: "removed address"}
RTMGRP_LINK, RTMGRP_IPV4_IFADDR = 0x1, 0x10


def run_setup(c: Checker, netns: str, pod_cidr: str) -> FunctionRun:
    """setup_node(pod_cidr) in a child process inside `netns`."""
    return c.run_function("setup_node", pod_cidr, netns=netns)


def links(c: Checker, netns: str) -> dict[str, dict[str, Any]]:
    shown = json.loads(c.sh(netns, "ip", "-j", "-d", "addr").stdout or "[]")
    return {link["ifname"]: link for link in shown}


def inet(link: dict[str, Any]) -> list[str]:
    return [
        f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a["family"] == "inet"
    ]


def gateway_of(pod_cidr: str) -> str:
    net = ipaddress.ip_network(pod_cidr)
    return f"{net.network_address + 1}/{net.prefixlen}"


def expect_bridge(c: Checker, netns: str, pod_cidr: str, why: str = "") -> dict[str, Any]:
    """cni0 is an up bridge holding exactly the pod CIDR's gateway."""
    found = links(c, netns)
    c.expect(BRIDGE in found, f"there is no {BRIDGE} in {netns}{why}")
    bridge = found[BRIDGE]
    kind = bridge.get("linkinfo", {}).get("info_kind")
    c.expect(kind == "bridge", f"{BRIDGE} is a {kind}, not a bridge")
    c.expect("UP" in bridge.get("flags", []), f"{BRIDGE} is down{why}")
    return bridge


def expect_gateway(c: Checker, bridge: dict[str, Any], pod_cidr: str, why: str = "") -> None:
    want, held = gateway_of(pod_cidr), inet(bridge)
    c.expect(
        held == [want],
        f"{BRIDGE} should hold exactly {want} (the first address of {pod_cidr}, with its "
        f"prefix), it holds {held}{why}",
    )


def forwarding(c: Checker, netns: str) -> str:
    return c.sh(netns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()


def break_node(c: Checker, node: Node) -> None:
    """A cni0 left wrong (down, the pod network's /16, a stale /24) and a decoy bridge."""
    ns, net = node.netns, ipaddress.ip_network(node.pod_cidr)
    c.sh(ns, "ip", "link", "add", BRIDGE, "type", "bridge")
    c.sh(ns, "ip", "addr", "add", f"{net.network_address + 1}/16", "dev", BRIDGE)
    c.sh(ns, "ip", "addr", "add", "10.244.77.1/24", "dev", BRIDGE)
    c.sh(ns, "ip", "link", "add", DECOY, "type", "bridge")
    c.sh(ns, "ip", "addr", "add", DECOY_ADDRESS, "dev", DECOY)
    c.sh(ns, "ip", "link", "set", DECOY, "up")


def watch(netns_path: str) -> socket.socket:
    """A netlink socket in the node, subscribed to link and IPv4 address changes."""

    def open_socket() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))
        return sock

    return run_in_netns(netns_path, open_socket)


def changes(sock: socket.socket) -> list[str]:
    """What the kernel announced since `watch` (queued already: no waiting needed)."""
    seen = []
    while True:
        try:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return seen
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if kind in RTM_NAMES:
                seen.append(RTM_NAMES[kind] + describe(data[offset + 16 : offset + length], kind))
            offset += max((length + 3) & ~3, 16)


def describe(body: bytes, kind: int) -> str:
    """The link's name (IFLA_IFNAME) or the address (IFA_LOCAL) a message is about."""
    header, wanted = (16, 3) if kind == 17 else (8, 2)
    offset = header
    while offset + 4 <= len(body):
        length, attr = struct.unpack_from("=HH", body, offset)
        value = body[offset + 4 : offset + length]
        if attr == wanted and kind == 17:
            return " " + value.rstrip(b"\0").decode(errors="replace")
        if attr == wanted and len(value) == 4:
            return f" {socket.inet_ntoa(value)}/{body[1]}"
        offset += max((length + 3) & ~3, 4)
    return ""


def check(c: Checker) -> None:
    with c.scratch_lab(nodes=2, bare={"bridge"}) as lab:
        n1, n2 = lab.nodes
        break_node(c, n2)
        with c.step("setup_node runs on a bare node", hint=1):
            first = run_setup(c, n1.netns, n1.pod_cidr)
            c.expect(first.ok, f"setup_node({n1.pod_cidr!r}) on {n1.name} failed: {first.error}")
        with c.step(f"{BRIDGE} is a bridge, and up", hint=1):
            bridge = expect_bridge(c, n1.netns, n1.pod_cidr)
        with c.step(
            f"{BRIDGE} holds the gateway with the pod CIDR's prefix, and nothing else", hint=2
        ):
            expect_gateway(c, bridge, n1.pod_cidr)
        with c.step("IPv4 forwarding is on in the node", hint=3):
            value = forwarding(c, n1.netns)
            c.expect(value == "1", f"net.ipv4.ip_forward is {value} on {n1.name}")
        with c.step(
            f"the gateway follows the pod CIDR: {ODD_CIDR} gives {gateway_of(ODD_CIDR)}", hint=2
        ):
            odd = c.empty_netns("odd")
            done = run_setup(c, odd, ODD_CIDR)
            c.expect(done.ok, f"setup_node({ODD_CIDR!r}) failed: {done.error}")
            expect_gateway(c, expect_bridge(c, odd, ODD_CIDR), ODD_CIDR)
        with c.step(
            f"a {BRIDGE} left wrong is fixed, and the node's other links keep theirs", hint=4
        ):
            check_repair(c, n2)
        pods = Runtime(lab)
        a = pods.add(c.pod_name("a"), n1.name)
        with c.step("a second run changes nothing, and the pod on cni0 keeps its gateway", hint=4):
            check_second_run(c, n1, bridge, a.netns)
        with c.step("your bridge carries pods: across cni0, and on to node2", hint=1):
            check_traffic(c, lab, pods, a.netns)
        with c.step("a host address is refused as a pod CIDR, and nothing is made", hint=2):
            check_refusal(c)
    if "bridge" in c.plan.bare:
        with c.step("your lab's nodes get your cni0 (it was started with --bare bridge)", hint=1):
            for node in c.plan.nodes:
                done = run_setup(c, node.netns, node.pod_cidr)
                c.expect(done.ok, f"setup_node on {node.name} failed: {done.error}")
                c.keep_link(node.name, BRIDGE)


def check_repair(c: Checker, node: Node) -> None:
    before = links(c, node.netns)
    why = f" (it held {inet(before[BRIDGE])} and was down before your run)"
    done = run_setup(c, node.netns, node.pod_cidr)
    c.expect(done.ok, f"setup_node on {node.name}, where {BRIDGE} was left wrong: {done.error}")
    bridge = expect_bridge(c, node.netns, node.pod_cidr, why)
    expect_gateway(c, bridge, node.pod_cidr, why)
    after = links(c, node.netns)
    for name in (DECOY, "eth0"):
        c.expect(name in after, f"{name} vanished from {node.name}")
        c.expect(
            inet(after[name]) == inet(before[name]) and "UP" in after[name].get("flags", []),
            f"{name} was changed: it held {inet(before[name])}, now {inet(after[name])}",
        )
    value = forwarding(c, node.netns)
    c.expect(value == "1", f"net.ipv4.ip_forward is {value} on {node.name}")


def check_second_run(c: Checker, node: Node, bridge: dict[str, Any], pod_netns: str) -> None:
    sock = watch(node.netns_path)
    try:
        done = run_setup(c, node.netns, node.pod_cidr)
        seen = changes(sock)
    finally:
        sock.close()
    c.expect(done.ok, f"the second setup_node on {node.name} failed: {done.error}")
    c.expect(
        not seen,
        f"the second run changed the node: {'; '.join(seen)}. Whatever is already right "
        f"stays untouched: pods on {BRIDGE} lose their gateway while it is away",
    )
    now = links(c, node.netns)[BRIDGE]
    c.expect(now["ifindex"] == bridge["ifindex"], f"{BRIDGE} was deleted and made again")
    gateway = node.gateway
    c.expect(c.pings(pod_netns, gateway), f"the pod on {BRIDGE} gets no reply from {gateway}")


def check_traffic(c: Checker, lab: Plan, pods: Runtime, a_netns: str) -> None:
    n1, n2 = lab.nodes
    c.expect(run_setup(c, n2.netns, n2.pod_cidr).ok, f"setup_node failed on {n2.name}")
    b = pods.add(c.pod_name("b"), n1.name)
    far = pods.add(c.pod_name("c"), n2.name)
    for pod, where in ((b, f"on {n1.name}, across {BRIDGE}"), (far, f"on {n2.name}")):
        address = pod.addresses()[0].split("/")[0]
        c.expect(c.pings(a_netns, address), f"no reply from the pod {where} ({address})")


def check_refusal(c: Checker) -> None:
    bad = c.empty_netns("bad")
    done = run_setup(c, bad, "10.244.0.1/24")
    c.expect(
        not done.ok and done.kind.endswith("ValueError"),
        "setup_node('10.244.0.1/24') must raise ValueError: that is a host address, not a "
        f"network (10.244.0.0/24 is); {'it returned' if done.ok else done.error}",
    )
    c.expect(BRIDGE not in links(c, bad), f"setup_node made {BRIDGE} before refusing its input")

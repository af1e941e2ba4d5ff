"""Step 6: the student's ADD, called by hand as the seed does, then judged on the kernel.

The pod on node1 already has an `eth0` from another network (a decoy: Multus would do
that), so this ADD is for `net1`. The check calls ADD itself rather than through the
runtime, because the runtime answers a failed ADD with DEL, which would erase what the
student's code did: here a failure can be read off the pod and named (a /32 address, a
link still down) instead of being shown as a bare netlink errno.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, NamedTuple

from lab.exercises.checker import Checker

IFNAME = "net1"
DECOY_IF, DECOY_PEER, DECOY_ADDRESS = "eth0", "decoy0", "10.99.0.2/24"


class Attached(NamedTuple):
    """One by-hand ADD: where it ran, what the plugin answered (no dataclass: a check
    module is not in sys.modules)."""

    node: str
    netns: str
    container_id: str
    ok: bool
    answer: dict[str, Any]
    error: str


def ip_json(c: Checker, netns: str, *argv: str) -> list[dict[str, Any]]:
    return json.loads(c.sh(netns, "ip", "-j", *argv).stdout or "[]")


def inet(c: Checker, netns: str, ifname: str) -> list[ipaddress.IPv4Interface]:
    shown = ip_json(c, netns, "addr", "show", "dev", ifname)
    infos = shown[0]["addr_info"] if shown else []
    return [
        ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}")
        for a in infos
        if a["family"] == "inet"
    ]


def add_decoy(c: Checker, netns: str) -> None:
    """An `eth0` of another network, already in the pod: ADD must leave it alone."""
    c.sh(netns, "ip", "link", "add", DECOY_IF, "type", "veth", "peer", "name", DECOY_PEER)
    c.sh(netns, "ip", "addr", "add", DECOY_ADDRESS, "dev", DECOY_IF)
    c.sh(netns, "ip", "link", "set", DECOY_IF, "up")


def attach(c: Checker, node: str, suffix: str) -> Attached:
    netns = c.empty_netns(suffix)
    add_decoy(c, netns)
    container_id = f"{c.prefix}-{suffix}-{'5' * 40}"
    ex = c.call(
        "ADD", c.node_conf(node), container_id=container_id, netns=netns, ifname=IFNAME, node=node
    )
    try:
        answer = json.loads(ex.stdout or b"{}")
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    ok = ex.returncode == 0 and "code" not in answer
    error = "" if ok else str(answer.get("msg") or ex.stderr.decode(errors="replace")[-300:])
    return Attached(node, netns, container_id, ok, answer, error)


def detach(c: Checker, pod: Attached) -> None:
    """Release the address IPAM gave (the namespace itself goes with the check)."""
    c.call(
        "DEL",
        c.node_conf(pod.node),
        container_id=pod.container_id,
        netns=pod.netns,
        ifname=IFNAME,
        node=pod.node,
    )


def failed_because(pod: Attached) -> str:
    return f" (your ADD failed: {pod.error})" if not pod.ok else ""


def pod_interface(c: Checker, pod: Attached) -> dict[str, Any]:
    links = {link["ifname"]: link for link in ip_json(c, pod.netns, "-d", "link")}
    c.expect(
        IFNAME in links,
        f"the pod has no {IFNAME} (CNI_IFNAME); it has {sorted(links)}{failed_because(pod)}",
    )
    kind = links[IFNAME].get("linkinfo", {}).get("info_kind")
    c.expect(kind == "veth", f"{IFNAME} is a {kind}, not a veth")
    c.expect(
        DECOY_IF in links
        and inet(c, pod.netns, DECOY_IF) == [ipaddress.ip_interface(DECOY_ADDRESS)],
        f"the pod's {DECOY_IF} of another network lost its address or vanished",
    )
    return links[IFNAME]


def check_address(c: Checker, pod: Attached) -> ipaddress.IPv4Interface:
    cidr = ipaddress.ip_network(c.plan.node(pod.node).pod_cidr)
    held = inet(c, pod.netns, IFNAME)
    c.expect(held, f"{IFNAME} has no IPv4 address{failed_because(pod)}")
    c.expect(len(held) == 1, f"{IFNAME} holds {len(held)} addresses: {[str(a) for a in held]}")
    address = held[0]
    c.expect(address.ip in cidr, f"{address} is not in {pod.node}'s pod CIDR {cidr}")
    c.expect(
        address.network.prefixlen != 32,
        f"{IFNAME} holds {address}: an address given without prefixlen= is a /32, so no "
        f"subnet of the pod holds the gateway and the default route via it is refused "
        f"('Network is unreachable'){failed_because(pod)}",
    )
    c.expect(
        address.network == cidr,
        f"{IFNAME} holds {address}: the prefix must be the pod CIDR's (/{cidr.prefixlen}); "
        f"a /{address.network.prefixlen} tells the pod that {address.network} is on its wire",
    )
    return address


def check_default_route(c: Checker, pod: Attached, link: dict[str, Any]) -> None:
    gateway = c.plan.node(pod.node).gateway
    c.expect(
        "UP" in link.get("flags", []),
        f"{IFNAME} is down: bring it up before adding a route through it "
        f"(on a down link that route is refused: 'Network is unreachable'){failed_because(pod)}",
    )
    routes = ip_json(c, pod.netns, "route", "show", "default")
    got = [(r.get("gateway"), r.get("dev")) for r in routes]
    c.expect(
        got == [(gateway, IFNAME)],
        f"expected 'default via {gateway} dev {IFNAME}', got {got}{failed_because(pod)}",
    )


def host_end(c: Checker, pod: Attached, link: dict[str, Any]) -> dict[str, Any]:
    node = c.plan.node(pod.node).netns
    peer = [h for h in ip_json(c, node, "-d", "link") if h["ifindex"] == link.get("link_index")]
    c.expect(peer, f"the other end of {IFNAME} is not in {pod.node}")
    veth = peer[0]
    c.expect(veth.get("master") == "cni0", f"{veth['ifname']} is not a port of cni0")
    c.expect("UP" in veth.get("flags", []), f"{veth['ifname']} (the host end) is down")
    return veth


def check_result(
    c: Checker, pod: Attached, address: ipaddress.IPv4Interface, mac: str, host: dict[str, Any]
) -> None:
    result = pod.answer
    ifaces = result.get("interfaces")
    c.expect(isinstance(ifaces, list) and ifaces, "the result has no interfaces list")
    in_pod = [i for i, x in enumerate(ifaces) if isinstance(x, dict) and x.get("sandbox")]
    c.expect(len(in_pod) == 1, f"expected one interface with a sandbox, got {ifaces}")
    mine = ifaces[in_pod[0]]
    c.expect(mine.get("name") == IFNAME, f"the sandbox interface is {mine.get('name')!r}")
    c.expect(mine.get("sandbox") == f"/run/netns/{pod.netns}", "its sandbox must be CNI_NETNS")
    c.expect(
        str(mine.get("mac", "")).lower() == mac,
        f"its mac is {mine.get('mac')!r}, but {IFNAME}'s is {mac}",
    )
    hosts = [x for x in ifaces if isinstance(x, dict) and not x.get("sandbox")]
    c.expect(
        [x.get("name") for x in hosts] == [host["ifname"]],
        f"the host interfaces listed are {[x.get('name') for x in hosts]}, "
        f"the host end is {host['ifname']}",
    )
    ips = result.get("ips")
    c.expect(isinstance(ips, list) and len(ips) == 1, f"expected one entry in ips, got {ips}")
    ip = ips[0]
    c.expect(ip.get("address") == str(address), f"ips[0].address is {ip.get('address')!r}")
    c.expect(
        ip.get("gateway") == c.plan.node(pod.node).gateway,
        f"ips[0].gateway is {ip.get('gateway')!r}",
    )
    c.expect(
        ip.get("interface") == in_pod[0],
        f"ips[0].interface is {ip.get('interface')!r}, but interfaces[{in_pod[0]}] is "
        f"{IFNAME}: it is an index into interfaces",
    )


def check(c: Checker) -> None:
    neighbour = c.empty_netns("neighbour")
    c.call(
        "ADD", c.node_conf(), container_id=f"{c.prefix}-neighbour", netns=neighbour, binary="pycni"
    )
    neighbour_ip = str(inet(c, neighbour, "eth0")[0].ip)
    pods = [attach(c, "node1", "a")]
    try:
        run(c, pods, neighbour_ip)
    finally:
        for pod in pods:
            detach(c, pod)
        c.call(
            "DEL",
            c.node_conf(),
            container_id=f"{c.prefix}-neighbour",
            netns=neighbour,
            binary="pycni",
        )


def run(c: Checker, pods: list[Attached], neighbour_ip: str) -> None:
    pod = pods[0]
    with c.step(f"the pod gets a veth named {IFNAME}, as CNI_IFNAME says", hint=1):
        link = pod_interface(c, pod)
    with c.step("the host end is on cni0 and up", hint=2):
        host = host_end(c, pod, link)
    with c.step(f"{IFNAME} holds the address IPAM gave, with the pod CIDR's prefix", hint=3):
        address = check_address(c, pod)
    with c.step(f"{IFNAME} is up, and the default route goes via the gateway", hint=4):
        check_default_route(c, pod, link)
    with c.step("ADD succeeds", hint=1):
        c.expect(pod.ok, f"your ADD failed: {pod.error}")
    with c.step("the result says what was made: interfaces, ips and the index between", hint=5):
        check_result(c, pod, address, link.get("address", "").lower(), host)
    with c.step("the pod reaches its gateway and a neighbour on node1", hint=2):
        gateway = c.plan.node("node1").gateway
        c.expect(c.pings(pod.netns, gateway), f"no reply from the gateway {gateway}")
        c.expect(c.pings(pod.netns, neighbour_ip), f"no reply from the neighbour {neighbour_ip}")
    other = attach(c, "node2", "b")
    pods.append(other)
    with c.step("a pod on node2 gets node2's gateway, and the two pods talk", hint=4):
        link = pod_interface(c, other)
        far = str(check_address(c, other).ip)
        check_default_route(c, other, link)
        c.expect(other.ok, f"ADD on node2 failed: {other.error}")
        c.expect(c.pings(pod.netns, far), f"no reply from {far} on node2")

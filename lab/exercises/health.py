"""What a healthy lab is, derived from its plan, and the traffic that proves it.

A troubleshooting step's check does not keep a copy of the lab as it was before the
fault (the student could diff it and read the answer off). It compares the kernel with
what `cnilab up` and the lab's plugin build by design — exactly the comparison the
student makes with `ip route`, `ip link` and the graph:
- `state_findings`: each node's routes (no more, no fewer), forwarding, cni0; each
  step pod's eth0, address, routes, host end (up, on cni0, same MTU), and that it is
  the same pod the step made (a pod deleted and re-added hides a fault, it does not fix it);
- `traffic_findings`: pings between every pair of the step's pods and to their gateways,
  a 2000-byte ping around the ring (fragments must pass every link), the source address
  a pod on another node sees (no masquerade inside the pod network), and the one the
  internet sees (the node's, masqueraded). It stops at the first failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from lab.cluster.build import node_conflist
from lab.cluster.node_setup import BRIDGE
from lab.cluster.plan import UNDERLAY_GATEWAY, Node, Plan

DEFAULT_MTU = 1500
WHOAMI_PORT = 7310
# One datagram in, its source address back: what the far end saw. Arguments only, no shell.
SERVER = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind((sys.argv[1],int(sys.argv[2])));print('ready',flush=True);s.settimeout(4)\n"
    "data,peer=s.recvfrom(64);s.sendto(peer[0].encode(),peer)\n"
)
CLIENT = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(2)\n"
    "s.sendto(b'who',(sys.argv[1],int(sys.argv[2])))\n"
    "print(s.recvfrom(64)[0].decode())\n"
)


@dataclass(frozen=True)
class ScenePod:
    """A pod the step made, as recorded when it was made."""

    name: str
    node: str
    netns: str
    address: str  # 10.244.0.2/24
    container_id: str

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]


def sh(netns: str, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ip_json(netns: str, *argv: str) -> list[dict[str, Any]]:
    try:
        found = json.loads(sh(netns, "ip", "-j", "-d", *argv).stdout or "[]")
    except ValueError:
        return []
    return found if isinstance(found, list) else []


def expected_mtu(node: Node) -> int:
    return int(node_conflist(node)["plugins"][0].get("mtu") or DEFAULT_MTU)


# -- state ------------------------------------------------------------------------------
def _route_key(r: dict[str, Any]) -> tuple[str, str, str]:
    return (str(r.get("dst")), str(r.get("gateway", "")), str(r.get("dev", "")))


def _show(key: tuple[str, str, str]) -> str:
    dst, gateway, dev = key
    return f"{dst}{f' via {gateway}' if gateway else ''} dev {dev}"


def expected_node_routes(plan: Plan, node: Node, devices: set[str]) -> set[tuple[str, str, str]]:
    want = {
        ("default", str(UNDERLAY_GATEWAY.ip), "eth0"),
        (plan.underlay, "", "eth0"),
        (node.pod_cidr, "", BRIDGE),
    }
    want |= {(n.pod_cidr, n.underlay_ip, "eth0") for n in plan.nodes if n is not node}
    if "cni1" in devices:  # the secondary network's bridge, once a pod used it
        want.add((node.secondary_cidr, "", "cni1"))
    return want


def _diff(where: str, got: set[tuple[str, str, str]], want: set[tuple[str, str, str]]) -> list[str]:
    problems = [f"{where} has no route {_show(k)}" for k in sorted(want - got)]
    problems += [f"{where} has a route the lab does not: {_show(k)}" for k in sorted(got - want)]
    return problems


def node_findings(plan: Plan, node: Node) -> list[str]:
    links = {x.get("ifname"): x for x in ip_json(node.netns, "link")}
    problems = []
    for name in ("eth0", BRIDGE):
        link = links.get(name)
        if link is None or "UP" not in link.get("flags", []):
            problems.append(f"{node.name}'s {name} is {'missing' if link is None else 'down'}")
    got = {_route_key(r) for r in ip_json(node.netns, "route", "show", "table", "main")}
    problems += _diff(node.name, got, expected_node_routes(plan, node, set(links)))
    forward = sh(node.netns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()
    if forward != "1":
        problems.append(f"{node.name} does not forward packets (net.ipv4.ip_forward = {forward})")
    return problems


def host_end(pod: ScenePod, node: Node) -> dict[str, Any] | None:
    eth0 = ip_json(pod.netns, "link", "show", "eth0")
    if not eth0 or "link_index" not in eth0[0]:
        return None
    return next(
        (x for x in ip_json(node.netns, "link") if x.get("ifindex") == eth0[0]["link_index"]),
        None,
    )


def pod_findings(plan: Plan, pod: ScenePod, current_container_id: str | None) -> list[str]:
    node = plan.node(pod.node)
    if current_container_id is None:
        return [f"pod {pod.name} is gone: `cnilab exercise start` the step again"]
    if current_container_id != pod.container_id:
        return [
            f"pod {pod.name} is not the pod the step made (it was deleted and added again): "
            "a new pod hides a fault, it does not fix it"
        ]
    mtu = expected_mtu(node)
    eth0 = ip_json(pod.netns, "addr", "show", "eth0")
    if not eth0:
        return [f"pod {pod.name} has no eth0"]
    problems = []
    if "UP" not in eth0[0].get("flags", []):
        problems.append(f"{pod.name}'s eth0 is down")
    if eth0[0].get("mtu") != mtu:
        problems.append(f"{pod.name}'s eth0 has MTU {eth0[0].get('mtu')}, the network's is {mtu}")
    inet = {
        f"{a['local']}/{a['prefixlen']}"
        for a in eth0[0].get("addr_info", [])
        if a.get("family") == "inet"
    }
    if inet != {pod.address}:
        problems.append(f"{pod.name}'s eth0 holds {sorted(inet)}, it was given {pod.address}")
    got = {_route_key(r) for r in ip_json(pod.netns, "route", "show", "table", "main")}
    want = {("default", node.gateway, "eth0"), (node.pod_cidr, "", "eth0")}
    problems += _diff(pod.name, got, want)
    end = host_end(pod, node)
    if end is None:
        return [*problems, f"{pod.name}'s eth0 has no host end on {node.name}"]
    name = end.get("ifname")
    if "UP" not in end.get("flags", []):
        problems.append(f"{pod.name}'s host end {name} on {node.name} is down")
    if end.get("master") != BRIDGE:
        problems.append(f"{pod.name}'s host end {name} is on {end.get('master')}, not {BRIDGE}")
    if end.get("mtu") != mtu:
        problems.append(f"{pod.name}'s host end {name} has MTU {end.get('mtu')}, not {mtu}")
    return problems


def state_findings(plan: Plan, pods: list[ScenePod], ids: dict[str, str | None]) -> list[str]:
    """Every way the kernel differs from a healthy lab (nodes first, then the step's pods)."""
    problems = [p for node in plan.nodes for p in node_findings(plan, node)]
    for pod in pods:
        problems += pod_findings(plan, pod, ids.get(pod.name))
    return problems


# -- traffic ----------------------------------------------------------------------------
def ping(netns: str, address: str, size: int = 56, within: float = 2.0) -> bool:
    """One reply within `within` seconds, asking again every 0.2 s: a neighbour entry
    that failed a moment ago, or a carrier just coming up, does not read as a fault.

    One ping per try: ping exits at its first error (a "host unreachable" from an ARP
    that gave up), however long its -w deadline, so one `ping -w2` is not 2 s of asking."""
    deadline = time.monotonic() + within
    argv = ["ping", "-c1", "-W0.2", "-s", str(size), address]
    while True:
        if sh(netns, *argv, timeout=5).returncode == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def settle(plan: Plan, pods: list[ScenePod], timeout: float = 3.0) -> None:
    """Wait (bounded) until every link of the step's pods that is set up has its carrier:
    the kernel reports a veth's carrier a little after `ip link set ... up`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [x for p in pods for x in ip_json(p.netns, "link", "show", "eth0")[:1]]
        found += [e for p in pods if (e := host_end(p, plan.node(p.node)))]
        coming = [x for x in found if "UP" in x.get("flags", []) and x.get("operstate") != "UP"]
        if not coming:
            return
        time.sleep(0.1)


def seen_source(src_netns: str, dst_netns: str, address: str) -> str:
    """The source address `dst_netns` sees for a datagram from `src_netns` ("" if none came)."""
    argv = [sys.executable, "-c", SERVER, address, str(WHOAMI_PORT)]  # replies from `address`
    server = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{dst_netns}", "--", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        if server.stdout is None or server.stdout.readline().strip() != "ready":
            return ""
        argv = [sys.executable, "-c", CLIENT, address, str(WHOAMI_PORT)]
        return sh(src_netns, *argv, timeout=10).stdout.strip()
    finally:
        server.kill()
        server.wait()


def traffic_findings(plan: Plan, pods: list[ScenePod]) -> list[str]:
    """The first thing the step's pods cannot do that a healthy lab does (or [])."""
    settle(plan, pods)
    for pod in pods:
        gateway = plan.node(pod.node).gateway
        if not ping(pod.netns, gateway):
            return [f"{pod.name} ({pod.node}) gets no reply from its gateway {gateway}"]
    for src in pods:
        for dst in pods:
            if src is not dst and not ping(src.netns, dst.ip):
                where = "same node" if src.node == dst.node else f"{src.node} to {dst.node}"
                return [f"{src.name} gets no reply from {dst.name} ({dst.ip}, {where})"]
    for src, dst in zip(pods, [*pods[1:], pods[0]], strict=True):
        if not ping(src.netns, dst.ip, size=2000):
            return [
                f"a 2000-byte ping from {src.name} to {dst.name} gets no reply, small ones do: "
                "some link on the way takes or sends frames of another size"
            ]
    for src in pods:
        far = next((d for d in pods if d.node != src.node), None)
        if far is not None:
            seen = seen_source(src.netns, far.netns, far.ip)
            if seen != src.ip:
                said = f"sees {seen}" if seen else "gets nothing"
                return [f"{far.name} {said} from {src.name}: it should see {src.ip}"]
    for src in pods:
        node = plan.node(src.node)
        seen = seen_source(src.netns, plan.internet_netns, plan.internet_address)
        if seen != node.underlay_ip:
            said = f"sees {seen}" if seen else "gets nothing"
            return [
                f"the internet ({plan.internet_address}) {said} from {src.name}: "
                f"it should see {node.name}'s address {node.underlay_ip}"
            ]
    return []

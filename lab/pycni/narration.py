"""What each step of pycni's ADD says in slow motion: why it is done, the kernel objects
it touched, and the `ip`/`nft` commands an instructor would type to do the same.

Touched objects say where they live ("node": the namespace pycni runs in, "pod": the
pod's CNI_NETNS) and are drawn from what the step really made, never from the plan.
Pure functions: tested without root.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from ipaddress import ip_interface
from typing import Any

from lab.pycni.demo import Step

NODE, POD = "node", "pod"
NETNS_DIR = "/run/netns/"


def link(where: str, name: str) -> dict[str, str]:
    return {"kind": "link", "in": where, "name": name}


def address(where: str, dev: str, cidr: str) -> dict[str, str]:
    return {"kind": "address", "in": where, "link": dev, "address": cidr}


def route(where: str, dst: str, via: str, dev: str) -> dict[str, str]:
    return {"kind": "route", "in": where, "dst": dst, "via": via, "link": dev}


def in_pod(netns: str, *argv: str) -> str:
    """The command run inside the pod: `ip -n NAME ...` for a named namespace."""
    if netns.startswith(NETNS_DIR) and "/" not in netns[len(NETNS_DIR) :]:
        return shlex.join(["ip", "-n", netns[len(NETNS_DIR) :], *argv])
    return shlex.join(["nsenter", f"--net={netns}", "ip", *argv])


def bridge_ready(bridge: str, created: bool, mtu: int | None) -> Step:
    commands = []
    if created:
        extra = ["mtu", str(mtu)] if mtu else []
        commands = [
            shlex.join(["ip", "link", "add", bridge, "type", "bridge", *extra]),
            shlex.join(["ip", "link", "set", bridge, "up"]),
        ]
    says = (
        f"made the node's bridge {bridge}: every pod of this node plugs into it"
        if created
        else f"the node's bridge {bridge} is there already: this pod plugs into it too"
    )
    return Step("bridge-ready", says, [link(NODE, bridge)], commands)


def ip_reserved(ipam: str, cidrs: list[str]) -> Step:
    return Step(
        "ip-reserved",
        f"the IPAM plugin {ipam} reserved {', '.join(cidrs) or 'no address'} for this pod",
        [{"kind": "address", "in": POD, "address": c} for c in cidrs],
        [f"CNI_COMMAND=ADD {shlex.quote(ipam)} < the same network config"],
    )


def veth_created(host_veth: str, ifname: str, netns: str, mtu: int | None) -> Step:
    extra = ["mtu", str(mtu)] if mtu else []
    peer = ["peer", "name", ifname, "netns", _netns_arg(netns)]
    return Step(
        "veth-created",
        f"made the veth pair {host_veth} (node) <-> {ifname} (pod): a cable through the "
        "namespace wall",
        [link(NODE, host_veth), link(POD, ifname), {"kind": "netns", "in": POD}],
        [shlex.join(["ip", "link", "add", host_veth, *extra, "type", "veth", *peer])],
    )


def _netns_arg(netns: str) -> str:
    if netns.startswith(NETNS_DIR) and "/" not in netns[len(NETNS_DIR) :]:
        return netns[len(NETNS_DIR) :]
    return netns


def veth_attached(host_veth: str, bridge: str, hairpin: bool) -> Step:
    commands = [
        shlex.join(["ip", "link", "set", host_veth, "master", bridge]),
        shlex.join(["ip", "link", "set", host_veth, "up"]),
    ]
    if hairpin:
        commands.append(shlex.join(["bridge", "link", "set", "dev", host_veth, "hairpin", "on"]))
    return Step(
        "veth-attached",
        f"plugged {host_veth} into {bridge}: the pod is now on the node's layer-2 segment",
        [link(NODE, host_veth), link(NODE, bridge)],
        commands,
    )


def pod_addressed(netns: str, ifname: str, ips: Iterable[Any], routes: Iterable[Any]) -> Step:
    touched = [link(POD, ifname)]
    commands = []
    for ipc in ips:
        touched.append(address(POD, ifname, str(ipc.address)))
        commands.append(in_pod(netns, "addr", "add", str(ipc.address), "dev", ifname))
    commands.append(in_pod(netns, "link", "set", ifname, "up"))
    for r in routes:
        dst = "default" if r.dst.prefixlen == 0 else str(r.dst)
        via = str(r.gw) if r.gw else ""
        touched.append(route(POD, str(r.dst), via, ifname))
        commands.append(
            in_pod(netns, "route", "add", dst, *(["via", via] if via else []), "dev", ifname)
        )
    return Step(
        "pod-addressed",
        f"gave {ifname} its address and routes inside the pod, and brought it up",
        touched,
        commands,
    )


def gateway_ready(bridge: str, ips: Iterable[Any]) -> Step:
    touched, commands = [link(NODE, bridge)], []
    v6 = False
    for ipc in ips:
        if ipc.gateway is None:
            continue
        gw = str(ip_interface(f"{ipc.gateway}/{ipc.address.network.prefixlen}"))
        touched.append(address(NODE, bridge, gw))
        commands.append(shlex.join(["ip", "addr", "replace", gw, "dev", bridge]))
        v6 = v6 or ipc.address.version == 6
    commands.append("sysctl -w net.ipv4.ip_forward=1")
    if v6:
        commands.append("sysctl -w net.ipv6.conf.all.forwarding=1")
    return Step(
        "gateway-ready",
        f"{bridge} holds the pod subnet's gateway and the node forwards: the pod can leave it",
        touched,
        commands,
    )


def masquerade_added(tag: str, ips: Iterable[Any], table: str, chain: str) -> Step:
    touched: list[dict[str, str]] = [{"kind": "rule", "in": NODE, "tag": tag}]
    commands = []
    for ipc in ips:
        proto = "ip" if ipc.address.version == 4 else "ip6"
        rule = [
            "nft", "add", "rule", "inet", table, chain,
            proto, "saddr", str(ipc.address.ip), proto, "daddr", "!=",
            f"{{ {ipc.address.network}, {'224.0.0.0/4' if proto == 'ip' else 'ff00::/8'} }}",
            "masquerade", "comment", tag,
        ]  # fmt: skip
        commands.append(shlex.join(rule))
    return Step(
        "masquerade-added",
        "what the pod sends outside the pod network leaves with the node's address (SNAT)",
        touched,
        commands,
    )

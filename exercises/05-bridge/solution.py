"""Step 5: the node's own network, before any pod (reference solution).

The seed does it by hand on each node: `brctl addbr cni0`, `ip link set cni0 up`,
`ip addr add 10.244.0.1/24 dev cni0`, and forwarding. Here it is code that runs on
every node start, so it is idempotent: it changes only what is wrong, and a second
run changes nothing (pods already on cni0 keep their gateway).
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

BRIDGE = "cni0"
FORWARDING = "/proc/sys/net/ipv4/ip_forward"  # per network namespace


def gateway_of(pod_cidr: str) -> ipaddress.IPv4Interface:
    """The first address of the pod CIDR, with the CIDR's prefix: 10.244.0.1/24."""
    net = ipaddress.IPv4Network(pod_cidr)  # strict: a host address (10.244.0.1/24) is refused
    return ipaddress.IPv4Interface(f"{net.network_address + 1}/{net.prefixlen}")


def ensure_bridge(ipr: IPRoute) -> int:
    """cni0's index; created when missing, refused when the name is not a bridge."""
    try:
        ipr.link("add", ifname=BRIDGE, kind="bridge")
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
    link = ipr.link("get", ifname=BRIDGE)[0]
    kind = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
    if kind != "bridge":
        raise ValueError(f"{BRIDGE} exists and is a {kind or 'device'}, not a bridge")
    return int(link["index"])


def ensure_gateway(ipr: IPRoute, index: int, gateway: ipaddress.IPv4Interface) -> None:
    """cni0 holds the gateway and no other IPv4 address: a stale one is removed."""
    held = [
        ipaddress.IPv4Interface(f"{a.get('address')}/{a['prefixlen']}")
        for a in ipr.addr("dump", index=index, family=socket.AF_INET)
    ]
    for stale in held:
        if stale != gateway:
            ipr.addr("del", index=index, address=str(stale.ip), prefixlen=stale.network.prefixlen)
    if gateway not in held:
        ipr.addr(
            "add",
            index=index,
            address=str(gateway.ip),
            prefixlen=gateway.network.prefixlen,
            broadcast=str(gateway.network.broadcast_address),
        )


def enable_forwarding() -> None:
    """Written only when off: the node routes between its pods and the other nodes."""
    with open(FORWARDING) as f:
        if f.read().strip() == "1":
            return
    with open(FORWARDING, "w") as f:
        f.write("1")


def setup_node(pod_cidr: str) -> None:
    """Make this node (the network namespace this runs in) ready for pods of pod_cidr."""
    gateway = gateway_of(pod_cidr)
    with IPRoute() as ipr:
        index = ensure_bridge(ipr)
        ensure_gateway(ipr, index, gateway)
        ipr.link("set", index=index, state="up")
    enable_forwarding()

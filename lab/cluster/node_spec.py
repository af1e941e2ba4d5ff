"""What `cnilab node init` is asked to do, checked before anything touches the kernel.

Pure parsing: every CIDR, address and name the user typed is validated here, with a
message that says which option is wrong and why, so the commands never show a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from lab.cluster.node_setup import BRIDGE, Peer
from lab.cluster.plan import POD_NETWORK

IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")


class SpecError(ValueError):
    """Bad input from the user: the message names the option."""


@dataclass(frozen=True)
class NodeSpec:
    pod_cidr: str
    node_ip: str
    peers: tuple[Peer, ...] = ()
    pod_network: str = str(POD_NETWORK)
    bridge: str = BRIDGE

    @property
    def gateway(self) -> str:
        """The first address of the node's pod CIDR, on the bridge (as in the lab)."""
        return str(ipaddress.ip_network(self.pod_cidr).network_address + 1)

    def same_node(self, other: NodeSpec) -> bool:
        """Same node apart from its peers (a node joining or leaving changes only those)."""
        mine = (self.pod_cidr, self.node_ip, self.pod_network, self.bridge)
        return mine == (other.pod_cidr, other.node_ip, other.pod_network, other.bridge)


def parse_network(text: str, option: str) -> ipaddress.IPv4Network:
    """An IPv4 network with no host bits set (10.244.0.0/24, not 10.244.0.1/24)."""
    if "/" not in text:
        raise SpecError(f"{option}: {text!r} is not a CIDR such as 10.244.0.0/24 (no /prefix)")
    try:
        net = ipaddress.ip_network(text)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise SpecError(f"{option}: {text!r} is not a CIDR such as 10.244.0.0/24") from None
        raise SpecError(f"{option}: {text!r} has host bits set; did you mean {loose}?") from None
    if net.version != 4:
        raise SpecError(f"{option}: {text!r} is IPv6; cnilab's pod network is IPv4 only")
    return net  # type: ignore[return-value]


def parse_address(text: str, option: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise SpecError(f"{option}: {text!r} is not an IP address such as 192.168.56.11") from None
    if address.version != 4:
        raise SpecError(f"{option}: {text!r} is IPv6; cnilab's underlay is IPv4 only")
    if address.is_loopback or address.is_multicast or address.is_unspecified:
        raise SpecError(f"{option}: {text} cannot be a node's address")
    return address  # type: ignore[return-value]


def parse_peer(text: str) -> Peer:
    """`10.244.1.0/24=192.168.56.12`: the peer's pod CIDR, reached via its node address."""
    cidr, sep, address = text.partition("=")
    if not sep:
        raise SpecError(f"--peer {text!r}: use POD_CIDR=NODE_IP, e.g. 10.244.1.0/24=192.168.56.12")
    net = parse_network(cidr.strip(), f"--peer {text!r}")
    ip = parse_address(address.strip(), f"--peer {text!r}")
    return Peer(str(net), str(ip))


def validate_bridge(name: str) -> str:
    if not IFNAME_RE.match(name):
        raise SpecError(f"--bridge: invalid interface name {name!r} (1-15 letters, digits, _ . -)")
    return name


def make_spec(
    pod_cidr: str,
    node_ip: str,
    peers: list[str] | tuple[str, ...] = (),
    pod_network: str = str(POD_NETWORK),
    bridge: str = BRIDGE,
) -> NodeSpec:
    """Parse and cross-check: every pod CIDR inside the pod network, none overlapping."""
    network = parse_network(pod_network, "--pod-network")
    own = parse_network(pod_cidr, "--pod-cidr")
    ip = parse_address(node_ip, "--node-ip")
    if not own.subnet_of(network):
        raise SpecError(f"--pod-cidr {own} is not inside the pod network {network}")
    if own.num_addresses < 4:
        raise SpecError(f"--pod-cidr {own} is too small: it needs a gateway and pods (/30 at most)")
    if ip in network:
        raise SpecError(f"--node-ip {ip} is inside the pod network {network}: use the underlay's")
    parsed = [parse_peer(p) for p in peers]
    seen: list[tuple[ipaddress.IPv4Network, str]] = [(own, "this node's --pod-cidr")]
    addresses = {str(ip): "--node-ip"}
    for peer in parsed:
        net = ipaddress.ip_network(peer.pod_cidr)
        where = f"--peer {peer.pod_cidr}={peer.address}"
        if not net.subnet_of(network):  # type: ignore[arg-type]
            raise SpecError(f"{where}: {net} is not inside the pod network {network}")
        for other, what in seen:
            if net.overlaps(other):
                raise SpecError(f"{where}: {net} overlaps {what} {other}")
        if ipaddress.ip_address(peer.address) in network:
            raise SpecError(f"{where}: {peer.address} is inside the pod network {network}")
        if peer.address in addresses:
            raise SpecError(f"{where}: {peer.address} is already {addresses[peer.address]}")
        seen.append((net, "peer"))  # type: ignore[arg-type]
        addresses[peer.address] = f"the address of peer {net}"
    return NodeSpec(str(own), str(ip), tuple(parsed), str(network), validate_bridge(bridge))

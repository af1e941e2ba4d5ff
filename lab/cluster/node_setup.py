"""What makes a host a node of the pod network, as kindnet and flannel's host-gw do it.

The same code sets up the embedded lab's node namespaces and a real host
(`cnilab node init`): the node's bridge with its gateway address, a route to every
other node's pod CIDR via that node's address, forwarding, and masquerade for
traffic that leaves the pod network. Every function is idempotent: run twice, same state.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from lab.kernel import addrs, links
from lab.kernel.nftables import NftError, match, nat_postrouting, prefix, run_nft
from lab.kernel.sysctl import write_sysctl

NAT_TABLE = "cnilab"
NAT_CHAIN = "postrouting"
BRIDGE = "cni0"


@dataclass(frozen=True)
class Peer:
    """Another node: its pod CIDR is reached through its underlay address."""

    pod_cidr: str
    address: str


def ensure_pod_bridge(ipr: Any, gateway: str, pod_cidr: str, name: str = BRIDGE) -> int:
    """The node's bridge holds the gateway of its pod CIDR (the seed does this by hand)."""
    bridge = links.ensure_bridge(ipr, name)
    net = ipaddress.ip_network(pod_cidr)
    addrs.ensure_address(ipr, bridge.index, ipaddress.ip_interface(f"{gateway}/{net.prefixlen}"))
    return bridge.index


def ensure_peer_routes(ipr: Any, peers: list[Peer]) -> None:
    """`ip route replace <peer pod CIDR> via <peer address>` for every peer."""
    for peer in peers:
        net = ipaddress.ip_network(peer.pod_cidr)
        ipr.route(
            "replace", dst=str(net.network_address), dst_len=net.prefixlen, gateway=peer.address
        )


def enable_forwarding() -> None:
    """In the namespace of the calling thread (/proc/sys/net is per namespace)."""
    write_sysctl("net.ipv4.ip_forward", "1")


def ensure_masquerade(pod_network: str) -> None:
    """Masquerade pod traffic that leaves the pod network (kindnet's KIND-MASQ-AGENT)."""
    net = ipaddress.ip_network(pod_network)
    rule = {
        "family": "ip",
        "table": NAT_TABLE,
        "chain": NAT_CHAIN,
        "comment": "pods leaving the pod network",
        "expr": [
            match("ip", "saddr", "==", prefix(net)),
            match("ip", "daddr", "!=", prefix(net)),
            {"masquerade": None},
        ],
    }
    run_nft(
        [
            *nat_postrouting("ip", NAT_TABLE, NAT_CHAIN),
            {"flush": {"chain": {"family": "ip", "table": NAT_TABLE, "name": NAT_CHAIN}}},
            {"add": {"rule": rule}},
        ]
    )


def remove_masquerade() -> None:
    try:
        run_nft([{"delete": {"table": {"family": "ip", "name": NAT_TABLE}}}])
    except NftError as e:
        if "No such file" not in str(e):
            raise

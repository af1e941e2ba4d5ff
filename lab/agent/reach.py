"""Where an agent's probe may go: lab addresses only.

An agent sends packets as root on the caller's word, so the destination is checked
when the capture is armed and again right before the probe leaves: the pod network,
the nodes' network and the lab's internet address (the embedded lab's own defaults,
lab.cluster.plan), or the networks given with `cnilab agent --lab-network`. Loopback,
multicast and broadcast addresses are never probed, whatever the networks say.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from lab.cluster.plan import INTERNET_ADDRESS, POD_NETWORK, UNDERLAY

DEFAULT_LAB_NETWORKS = (POD_NETWORK, UNDERLAY, INTERNET_ADDRESS.network)
WIDEST_PREFIX = 8


class OutsideLab(ValueError):
    pass


def parse_networks(texts: Iterable[str]) -> tuple[ipaddress.IPv4Network, ...]:
    """IPv4 networks from "CIDR" or "ADDRESS" texts; ValueError names the bad one."""
    found = []
    for text in texts:
        try:
            net = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not an IPv4 network (CIDR) or address") from None
        if net.prefixlen < WIDEST_PREFIX:
            raise ValueError(f"{text!r} is wider than a /{WIDEST_PREFIX}: not a lab network")
        found.append(net)
    return tuple(found)


@dataclass(frozen=True)
class LabReach:
    networks: tuple[ipaddress.IPv4Network, ...] = DEFAULT_LAB_NETWORKS

    def check(self, dst: str) -> None:
        """Nothing if a probe may go to `dst`; OutsideLab says why not."""
        try:
            ip = ipaddress.IPv4Address(dst)
        except ValueError:
            raise OutsideLab("the probe's destination must be an IPv4 address") from None
        if ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip == _BROADCAST:
            raise OutsideLab(f"{ip} is not a lab address: this agent probes lab addresses only")
        if not any(ip in net for net in self.networks):
            nets = ", ".join(map(str, self.networks))
            raise OutsideLab(f"{ip} is outside the lab ({nets}): this agent probes those only")


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")

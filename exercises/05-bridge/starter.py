"""Step 5: the node's own network, before any pod. Fill in the TODOs, then
`cnilab exercise check 5`.

The seed does it by hand on each node: `brctl addbr cni0`, `ip link set cni0 up`,
`ip addr add 10.244.0.1/24 dev cni0`, and forwarding. Here it is code that runs on
every node start, so it must be idempotent: change only what is wrong, and let a
second run change nothing (pods already on cni0 keep their gateway).

The check calls `setup_node(pod_cidr)` inside the node's network namespace: an
`IPRoute()` opened there talks to that node's kernel.
"""

from __future__ import annotations

import ipaddress

from pyroute2 import IPRoute

BRIDGE = "cni0"


def gateway_of(pod_cidr: str) -> ipaddress.IPv4Interface:
    """TODO: the pod CIDR's first address, with the CIDR's prefix (for 10.244.0.0/24:
    10.244.0.1/24). A pod CIDR that is not a network (a host address) is a ValueError."""
    raise NotImplementedError


def ensure_bridge(ipr: IPRoute) -> int:
    """TODO: the index of BRIDGE, created as a bridge when it is missing; a second run
    must find the same bridge, not make a new one."""
    raise NotImplementedError


def ensure_gateway(ipr: IPRoute, index: int, gateway: ipaddress.IPv4Interface) -> None:
    """TODO: the bridge holds `gateway` and no other IPv4 address. Remove only what is
    wrong, add only what is missing: what is already right stays untouched."""


def enable_forwarding() -> None:
    """TODO: IPv4 forwarding on, in this node (it is a setting of the namespace)."""


def setup_node(pod_cidr: str) -> None:
    """Make this node (the network namespace this runs in) ready for pods of pod_cidr."""
    gateway = gateway_of(pod_cidr)
    with IPRoute() as ipr:
        index = ensure_bridge(ipr)
        ensure_gateway(ipr, index, gateway)
        # TODO: the bridge must be up
    enable_forwarding()

"""Step 8: the routes between nodes, kept as kindnet keeps them. Fill in the TODOs,
then `cnilab exercise check 8`.

The check calls `reconcile_routes(me, nodes)` inside node `me`'s network namespace
each time the cluster's node list changes: an `IPRoute()` opened here talks to that
node's kernel.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pyroute2 import IPRoute

# The mark on the routes this code makes (the route's "protocol", shown by `ip route`
# as `proto 77`): it tells them apart from the routes of anyone else on the node.
ROUTE_PROTOCOL = 77
MAIN_TABLE = 254

Routes = dict[ipaddress.IPv4Network, ipaddress.IPv4Address]


def wanted_routes(me: str, nodes: list[dict[str, Any]]) -> Routes:
    """Every other node's pod CIDR and the address it is reached by.

    TODO: check every entry before anything touches the kernel (a pod CIDR that is a
    host address, not a network, is a ValueError), and leave node `me` itself out.
    """
    raise NotImplementedError


def routes_of_ours(ipr: IPRoute) -> Routes:
    """The routes in the node carrying our mark, from an earlier run.

    TODO: only IPv4 routes of the main table that carry ROUTE_PROTOCOL.
    """
    raise NotImplementedError


def reconcile_routes(me: str, nodes: list[dict[str, Any]]) -> None:
    """Make node `me`'s routes to the other nodes' pods match `nodes`.

    `nodes` is [{"name": "node1", "pod_cidr": "10.244.0.0/24", "address":
    "192.168.56.11"}, ...]: the whole cluster, `me` included.

    TODO: every wanted route present, pointing at the right node, even when this runs
    again with a route already there; then the routes of nodes that left removed, and
    no route that someone else made.
    """
    raise NotImplementedError

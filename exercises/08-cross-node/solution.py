"""Step 8: the routes between nodes, kept as kindnet keeps them (reference solution).

The check calls `reconcile_routes(me, nodes)` inside node `me`'s network namespace
each time the cluster's node list changes: an `IPRoute()` opened here talks to that
node's kernel.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from pyroute2 import IPRoute

# The mark on the routes this code makes (the route's "protocol", shown by `ip route`
# as `proto 77`): it tells them apart from the routes of anyone else on the node.
ROUTE_PROTOCOL = 77
MAIN_TABLE = 254

Routes = dict[ipaddress.IPv4Network, ipaddress.IPv4Address]


def wanted_routes(me: str, nodes: list[dict[str, Any]]) -> Routes:
    """Every other node's pod CIDR and the address it is reached by.

    All input is checked before the kernel is touched: a bad entry changes nothing.
    """
    if me not in [n["name"] for n in nodes]:
        raise ValueError(f"{me!r} is not in the node list")
    wanted: Routes = {}
    for node in nodes:
        cidr = ipaddress.IPv4Network(node["pod_cidr"])  # a host address is a ValueError
        via = ipaddress.IPv4Address(node["address"])
        if node["name"] != me:
            wanted[cidr] = via
    return wanted


def routes_of_ours(ipr: IPRoute) -> Routes:
    """The routes in the node carrying our mark, from an earlier run."""
    found: Routes = {}
    for route in ipr.route("dump", family=socket.AF_INET):
        if route["proto"] != ROUTE_PROTOCOL or route.get("table") != MAIN_TABLE:
            continue
        cidr = ipaddress.IPv4Network(f"{route.get('dst')}/{route['dst_len']}")
        found[cidr] = ipaddress.IPv4Address(route.get("gateway"))
    return found


def reconcile_routes(me: str, nodes: list[dict[str, Any]]) -> None:
    """Make node `me`'s routes to the other nodes' pods match `nodes`.

    `nodes` is [{"name": "node1", "pod_cidr": "10.244.0.0/24", "address":
    "192.168.56.11"}, ...]: the whole cluster, `me` included.
    """
    wanted = wanted_routes(me, nodes)
    with IPRoute() as ipr:
        for cidr, via in wanted.items():  # replace: a route that exists is updated, not refused
            ipr.route("replace", dst=str(cidr), gateway=str(via), proto=ROUTE_PROTOCOL)
        for cidr in routes_of_ours(ipr).keys() - wanted.keys():  # departed nodes
            ipr.route("del", dst=str(cidr), proto=ROUTE_PROTOCOL)

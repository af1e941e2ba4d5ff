"""Undoing what the fault catalogue can leave on a node, whatever the fault was.

`cnilab up`'s own node set-up (build.init_node) puts back routes, forwarding and the
masquerade chain; what it cannot know about is removed here: a route into the pod
network for a CIDR no node holds, and the firewall fault's rule (with its table, when
nothing else is in it). Both touch only what the catalogue makes.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import subprocess
from typing import Any

from pyroute2 import NetlinkError

from lab.cluster.plan import Node, Plan
from lab.exercises.faults import FIREWALL_CHAIN, FIREWALL_TABLE, firewall_expr
from lab.kernel.netns import iproute_in, run_in_netns
from lab.kernel.nftables import _nft, run_nft


def _table(name: str) -> list[dict[str, Any]]:
    """`nft -j list table ip NAME` in this thread's namespace ([] when there is none)."""
    argv = [_nft(), "-j", "list", "table", "ip", name]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if proc.returncode != 0:
        return []
    return [i for i in json.loads(proc.stdout).get("nftables", []) if "metainfo" not in i]


def remove_firewall(node: Node) -> None:
    """Take out the firewall fault's rule, and its table when nothing else is in it."""

    def work() -> None:
        items = _table(FIREWALL_TABLE)
        rules = [i["rule"] for i in items if "rule" in i]
        chains = {i["chain"]["name"] for i in items if "chain" in i}
        ours = [r["handle"] for r in rules if r.get("expr") == firewall_expr(node)]
        where = {"family": "ip", "table": FIREWALL_TABLE, "chain": FIREWALL_CHAIN}
        batch: list[dict[str, Any]] = [{"delete": {"rule": {**where, "handle": h}}} for h in ours]
        if items and len(ours) == len(rules) and chains <= {FIREWALL_CHAIN}:
            batch = [{"delete": {"table": {"family": "ip", "name": FIREWALL_TABLE}}}]
        if batch:
            run_nft(batch)

    run_in_netns(node.netns_path, work)


def remove_extra_pod_routes(plan: Plan, node: Node, keep: set[str]) -> None:
    """Delete the node's routes into the pod network other than `keep` (stale CIDRs)."""
    net = ipaddress.IPv4Network(plan.pod_network)
    with iproute_in(node.netns_path) as (ipr, _):
        for r in ipr.get_routes(family=2, table=254):
            dst, length = r.get_attr("RTA_DST"), r["dst_len"]
            if dst is None or not length:
                continue
            cidr = f"{dst}/{length}"
            if ipaddress.IPv4Network(cidr).subnet_of(net) and cidr not in keep:
                try:
                    ipr.route("del", dst=dst, dst_len=length, table=254)
                except NetlinkError as e:  # gone meanwhile
                    if e.code != errno.ESRCH:
                        raise

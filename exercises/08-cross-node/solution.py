"""Step 7: routes between nodes (reference solution)."""

from __future__ import annotations


def peer_routes(me: str, nodes: list[dict]) -> list[tuple[str, str]]:
    """The routes node `me` needs so its pods reach every other node's pods.

    `nodes` is [{"name": "node1", "pod_cidr": "10.244.0.0/24", "address": "192.168.56.11"},
    ...]. Answer (destination, via) pairs, like `ip route add <destination> via <via>`.
    """
    return [(n["pod_cidr"], n["address"]) for n in nodes if n["name"] != me]

"""Topology deltas: what changed between two node-link snapshots, and applying it.

At 500 pods a full snapshot is about a megabyte; one pod added changes a handful of
nodes and edges. So the event stream sends a client the full snapshot once (on
connect, or when it has fallen behind), then only deltas:

    {"base": 41, "version": 42, "graph": {...},
     "nodes": {"added": [...], "changed": [...], "removed": [ids]},
     "edges": {"added": [...], "changed": [...], "removed": [[source, target], ...]}}

A node is known by its "id", an edge by its two ends (the graph is undirected and has
one edge per pair). `apply_delta(old, diff(old, new)) == new`, up to the order of the
lists; the page does the same in JavaScript.
"""

from __future__ import annotations

from typing import Any

Snapshot = dict[str, Any]


def edge_key(edge: dict[str, Any]) -> tuple[str, str]:
    a, b = str(edge["source"]), str(edge["target"])
    return (a, b) if a <= b else (b, a)


def _changes(old: dict[Any, dict], new: dict[Any, dict]) -> tuple[list, list, list]:
    added = [v for k, v in new.items() if k not in old]
    changed = [v for k, v in new.items() if k in old and old[k] != v]
    removed = [k for k in old if k not in new]
    return added, changed, removed


def diff(old: Snapshot, new: Snapshot, base: int, version: int) -> dict[str, Any]:
    nodes = _changes({n["id"]: n for n in old["nodes"]}, {n["id"]: n for n in new["nodes"]})
    edges = _changes({edge_key(e): e for e in old["edges"]}, {edge_key(e): e for e in new["edges"]})
    return {
        "base": base,
        "version": version,
        "graph": new.get("graph", {}),
        "extra": {k: v for k, v in new.items() if k not in ("nodes", "edges", "graph")},
        "nodes": dict(zip(("added", "changed", "removed"), nodes, strict=True)),
        "edges": {
            "added": edges[0],
            "changed": edges[1],
            "removed": [list(k) for k in edges[2]],
        },
    }


def apply_delta(old: Snapshot, delta: dict[str, Any]) -> Snapshot:
    nodes = {n["id"]: n for n in old["nodes"]}
    for node_id in delta["nodes"]["removed"]:
        nodes.pop(node_id, None)
    for n in delta["nodes"]["added"] + delta["nodes"]["changed"]:
        nodes[n["id"]] = n
    edges = {edge_key(e): e for e in old["edges"]}
    for a, b in delta["edges"]["removed"]:
        edges.pop(edge_key({"source": a, "target": b}), None)
    for e in delta["edges"]["added"] + delta["edges"]["changed"]:
        edges[edge_key(e)] = e
    return {
        **old,
        **delta.get("extra", {}),
        "graph": delta["graph"],
        "nodes": list(nodes.values()),
        "edges": list(edges.values()),
    }


def is_small(delta: dict[str, Any], snapshot: Snapshot) -> bool:
    """Whether the delta is worth sending instead of the snapshot (a lab rebuilt from
    scratch changes everything: then the snapshot is as small)."""
    touched = sum(len(v) for part in ("nodes", "edges") for v in delta[part].values())
    return touched < (len(snapshot["nodes"]) + len(snapshot["edges"])) // 2

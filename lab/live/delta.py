"""Topology deltas: what changed between two node-link snapshots, and applying it.

At 500 pods a full snapshot is about a megabyte; one pod added changes a handful of
nodes and edges. So the event stream sends a client the full snapshot once (on
connect, or when it has fallen behind), then only deltas:

    {"base": 41, "version": 42, "graph": {...},
     "nodes": {"added": [...], "changed": [...], "patched": [...], "removed": [ids]},
     "edges": {"added": [...], "changed": [...], "removed": [[source, target], ...]}}

A node is known by its "id", an edge by its two ends (the graph is undirected and has
one edge per pair). A changed node goes whole in "changed", or, when that is smaller,
as a patch in "patched": {"id", "set": {attr: value}, "unset": [attr], "splice":
{attr: [[at, count, [items]], ...]}}. A splice edits a long list (a node's ARP
table, a bridge's FDB: hundreds of entries at 250 pods, of which a new pod changes
one or two) in place: at index `at` of the old list, `count` items are replaced by
`items`, the edits in ascending order of `at` and applied from the last. So
`apply_delta(old, diff(old, new)) == new`, up to the order of the node and edge
lists; the page does the same in JavaScript (static/js/delta.js).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Sequence
from itertools import compress
from typing import Any

Snapshot = dict[str, Any]
SPLICE_FROM = 8  # lists shorter than this are sent whole


def edge_key(edge: dict[str, Any]) -> tuple[str, str]:
    a, b = str(edge["source"]), str(edge["target"])
    return (a, b) if a <= b else (b, a)


def _changes(
    old: Sequence[dict], new: Sequence[dict], key: Callable[[dict], Any]
) -> tuple[list, list, list, dict[Any, dict]]:
    """(added, changed, removed keys, the old items that left, by key).

    Snapshots share the dicts of what did not change (lab.inspect.graph): those are
    set aside by identity (set operations on their ids, no Python loop over them),
    and only the few others are keyed and compared (keying the ~3000 edges of both
    snapshots at 2 x 250 pods was most of a diff). Items keep their snapshot's order."""
    old_ids, new_ids = set(map(id, old)), set(map(id, new))
    fresh = {key(x): x for x in _only(new, new_ids - old_ids)}
    stale = {key(x): x for x in _only(old, old_ids - new_ids)}
    added = [v for k, v in fresh.items() if k not in stale]
    changed = [v for k, v in fresh.items() if k in stale and stale[k] != v]
    removed = [k for k in stale if k not in fresh]
    return added, changed, removed, stale


def _only(items: Sequence[dict], ids: set[int]) -> Iterable[dict]:
    """The items whose id is in `ids`, in order."""
    return compress(items, map(ids.__contains__, map(id, items))) if ids else ()


def _encoded(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def splice(old: list, new: list) -> list[list]:
    """The edits that turn `old` into `new`: [[at, count, items], ...] (see above).

    The common head and tail are cut first (a new pod adds one or two entries to lists
    of hundreds); only what lies between them goes through difflib."""
    head, end = 0, min(len(old), len(new))
    while head < end and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < end - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    mid_old, mid_new = old[head : len(old) - tail], new[head : len(new) - tail]
    if not mid_old or not mid_new:
        return [[head, len(mid_old), mid_new]] if mid_old or mid_new else []
    a, b = [_encoded(x) for x in mid_old], [_encoded(x) for x in mid_new]
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return [[head + i1, i2 - i1, mid_new[j1:j2]] for tag, i1, i2, j1, j2 in ops if tag != "equal"]


def patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": new["id"], "set": {}, "unset": [k for k in old if k not in new]}
    for key, value in new.items():
        before = old.get(key)
        if key in old and before == value:
            continue
        long = isinstance(value, list) and isinstance(before, list) and len(before) >= SPLICE_FROM
        if long:
            out.setdefault("splice", {})[key] = splice(before, value)
        else:
            out["set"][key] = value
    return out


def apply_patch(node: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if k not in p.get("unset", ())}
    out.update(p.get("set", {}))
    for key, edits in p.get("splice", {}).items():
        items = list(out.get(key) or [])
        for at, count, inserted in reversed(edits):
            items[at : at + count] = inserted
        out[key] = items
    return out


def _node_id(node: dict[str, Any]) -> Any:
    return node["id"]


def _node_changes(old: Snapshot, new: Snapshot) -> dict[str, list]:
    added, changed, removed, before = _changes(old["nodes"], new["nodes"], _node_id)
    whole, patched = [], []
    for node in changed:
        p = patch(before[node["id"]], node)
        small = "splice" in p and len(_encoded(p)) < len(_encoded(node))
        (patched if small else whole).append(p if small else node)
    return {"added": added, "changed": whole, "patched": patched, "removed": removed}


def diff(old: Snapshot, new: Snapshot, base: int, version: int) -> dict[str, Any]:
    edges = _changes(old["edges"], new["edges"], edge_key)
    return {
        "base": base,
        "version": version,
        "graph": new.get("graph", {}),
        "extra": {k: v for k, v in new.items() if k not in ("nodes", "edges", "graph")},
        "nodes": _node_changes(old, new),
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
    for p in delta["nodes"].get("patched", ()):
        if p["id"] in nodes:
            nodes[p["id"]] = apply_patch(nodes[p["id"]], p)
    return {
        **old,
        **delta.get("extra", {}),
        "graph": delta["graph"],
        "nodes": list(nodes.values()),
        "edges": _apply_edges(old["edges"], delta["edges"]),
    }


def _apply_edges(old: list[dict[str, Any]], delta: dict[str, list]) -> list[dict[str, Any]]:
    """The old edges without those the delta removes or replaces, then its new ones.

    Only an edge with an end among those the delta names is keyed (a client keying
    all ~3000 edges per delta spent more on it than the server on the delta)."""
    new = delta["added"] + delta["changed"]
    gone = {edge_key({"source": a, "target": b}) for a, b in delta["removed"]}
    gone |= {edge_key(e) for e in new}
    ends = {end for k in gone for end in k}
    kept = [
        e
        for e in old
        if not (str(e["source"]) in ends and str(e["target"]) in ends and edge_key(e) in gone)
    ]
    return kept + new


def is_small(delta: dict[str, Any], snapshot: Snapshot) -> bool:
    """Whether the delta is worth sending instead of the snapshot (a lab rebuilt from
    scratch changes everything: then the snapshot is as small)."""
    touched = sum(len(v) for part in ("nodes", "edges") for v in delta[part].values())
    return touched < (len(snapshot["nodes"]) + len(snapshot["edges"])) // 2

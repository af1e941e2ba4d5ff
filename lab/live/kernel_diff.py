"""The kernel objects that differ between two topology snapshots, one line each.

lab.live.delta says which graph nodes changed; this says what that means in the
kernel's words: a link, an address, a route, a neighbour or FDB entry, an nft rule,
created, changed or removed, and in which namespace. It is how the transcript shows
what a CNI call did (lab.live.call_changes).

    {"op": "created"|"changed"|"removed", "kind": "netns"|"link"|"address"|"route"|
     "neighbour"|"fdb"|"nft", "netns": name, "what": "eth0", "detail": "veth, up",
     "ref": "if:<netns>:<ifname>"}   # links and FDB entries: the interface concerned
"""

from __future__ import annotations

from typing import Any

from lab.live.delta import diff

Snapshot = dict[str, Any]
Change = dict[str, str]
LINK_FIELDS = ("master", "up", "operstate", "mtu", "mac", "alias", "peer")


def _change(op: str, kind: str, netns: str, what: str, detail: str = "") -> Change:
    return {"op": op, "kind": kind, "netns": netns, "what": what, "detail": detail}


def _route_key(r: dict[str, Any]) -> str:
    via = f" via {r['gateway']}" if r.get("gateway") else ""
    dev = f" dev {r['dev']}" if r.get("dev") else ""
    return f"{r.get('dst', '')}{via}{dev}"


def _neighbour_key(n: dict[str, Any]) -> str:
    return f"{n.get('ip', '')} dev {n.get('dev', '')}"


def _fdb_key(e: dict[str, Any]) -> str:
    port = str(e.get("port") or "").rsplit(":", 1)[-1]
    return f"{e.get('mac', '')} port {port}" + (f" vlan {e['vlan']}" if e.get("vlan") else "")


def _rule_key(m: dict[str, Any]) -> str:
    return (
        f"{m.get('family', '')} {m.get('table', '')} {m.get('chain', '')} '{m.get('comment', '')}'"
    )


def _keyed(items: Any, key: Any) -> dict[str, Any]:
    """Entries by key: dicts (routes, rules...), or plain strings when `key` is str."""
    return {key(i): i for i in items or () if isinstance(i, dict) or key is str}


def _lists(kind: str, netns: str, old: Any, new: Any, key: Any, show: Any = None) -> list[Change]:
    """Entries of a list attribute that came, went or changed (same key, other value)."""
    before, after = _keyed(old, key), _keyed(new, key)
    out = [
        _change("created", kind, netns, k, show(after[k]) if show else "")
        for k in after
        if k not in before
    ]
    out += [_change("removed", kind, netns, k) for k in before if k not in after]
    out += [
        _change("changed", kind, netns, k, show(after[k]) if show else "")
        for k in after
        if k in before and before[k] != after[k]
    ]
    return out


def _fdb_state(e: dict[str, Any]) -> str:
    return str(e.get("state", ""))


def _state(n: dict[str, Any]) -> str:
    return f"{n.get('mac', '')} {n.get('state', '')}".strip()


def _namespace(op: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    node = new or old or {}
    netns = str(node.get("name", ""))
    out = [] if op == "changed" else [_change(op, "netns", netns, netns, str(node.get("kind", "")))]
    old, new = old or {}, new or {}
    out += _lists("route", netns, old.get("routes"), new.get("routes"), _route_key)
    out += _lists(
        "neighbour", netns, old.get("neighbours"), new.get("neighbours"), _neighbour_key, _state
    )
    out += _lists("nft", netns, old.get("masquerade"), new.get("masquerade"), _rule_key)
    return out


def _link_detail(i: dict[str, Any]) -> str:
    parts = [str(i.get("kind", "")), "up" if i.get("up") else "down"]
    if i.get("master"):
        parts.append(f"master {str(i['master']).rsplit(':', 1)[-1]}")
    return ", ".join(p for p in parts if p)


def _interface(op: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    node = new or old or {}
    netns, name = str(node.get("ns", "")), str(node.get("name", ""))
    out = []
    if op != "changed":
        out.append({**_change(op, "link", netns, name, _link_detail(node)), "ref": node["id"]})
    else:
        assert old is not None and new is not None
        moved = [f for f in LINK_FIELDS if old.get(f) != new.get(f)]
        if moved:
            detail = _link_detail(new) + f" ({', '.join(moved)})"
            out.append({**_change("changed", "link", netns, name, detail), "ref": node["id"]})
    old, new = old or {}, new or {}
    addrs = _lists("address", netns, old.get("addresses"), new.get("addresses"), str)
    out += [{**a, "detail": f"dev {name}"} for a in addrs]
    fdb = _lists("fdb", netns, old.get("fdb"), new.get("fdb"), _fdb_key, _fdb_state)
    ports = {_fdb_key(e): e.get("port") for e in [*(old.get("fdb") or ()), *(new.get("fdb") or ())]}
    out += [{**c, "ref": str(ports.get(c["what"]) or "")} for c in fdb]
    return out


def _describe(op: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    node = new or old or {}
    if node.get("type") == "namespace":
        return _namespace(op, old, new)
    if node.get("type") == "interface":
        return _interface(op, old, new)
    return []


ORDER = {"netns": 0, "link": 1, "address": 2, "route": 3, "neighbour": 4, "fdb": 5, "nft": 6}


def kernel_changes(old: Snapshot, new: Snapshot) -> list[Change]:
    """What differs from `old` to `new`, namespaces and links first."""
    delta = diff(old, new, 0, 1)
    before = {n["id"]: n for n in old.get("nodes", [])}
    after = {n["id"]: n for n in new.get("nodes", [])}
    out: list[Change] = []
    for n in delta["nodes"]["added"]:
        out += _describe("created", None, n)
    for node_id in delta["nodes"]["removed"]:
        out += _describe("removed", before[node_id], None)
    changed = [n["id"] for n in delta["nodes"]["changed"]] + [
        p["id"] for p in delta["nodes"]["patched"]
    ]
    for node_id in changed:
        out += _describe("changed", before[node_id], after[node_id])
    return sorted(out, key=lambda c: (ORDER.get(c["kind"], 9), c["netns"], c["op"], c["what"]))

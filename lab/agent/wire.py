"""What travels between an agent and the coordinator, both ways: captured frames and the
facts about their namespaces. Each side has only these few shapes to agree on."""

from __future__ import annotations

from typing import Any

from lab.trace.capture import Frame
from lab.trace.hops import LinkInfo
from lab.trace.order import Sighting
from lab.trace.packets import Seen

Facts = tuple[dict[str, LinkInfo], set[str]]


def frame_to_dict(frame: Frame, seen: Seen, netns: str) -> dict[str, Any]:
    """One frame of the probe, under the namespace's qualified name; the time is the
    agent's kernel timestamp (its own clock)."""
    return {
        "netns": netns,
        "ifname": frame.ifname,
        "outgoing": frame.outgoing,
        "time": frame.time,
        "leg": seen.leg,
        "src_mac": seen.src_mac,
        "dst_mac": seen.dst_mac,
        "src_ip": seen.src_ip,
        "dst_ip": seen.dst_ip,
        "ttl": seen.ttl,
        "summary": seen.summary,
    }


def sighting_from_dict(agent: str, d: dict[str, Any]) -> Sighting:
    frame = Frame(str(d["netns"]), str(d["ifname"]), bool(d["outgoing"]), float(d["time"]), b"")
    seen = Seen(
        str(d["leg"]),
        str(d["src_mac"]),
        str(d["dst_mac"]),
        str(d["src_ip"]),
        str(d["dst_ip"]),
        int(d["ttl"]),
        str(d["summary"]),
    )
    return Sighting(agent, frame, seen)


def facts_to_dict(label: str, facts: Facts) -> dict[str, Any]:
    links, local = facts
    return {
        "label": label,
        "links": {name: {"kind": i.kind, "master": i.master} for name, i in links.items()},
        "local": sorted(ip for ip in local if ip),
    }


def facts_from_dict(d: dict[str, Any]) -> tuple[str, Facts]:
    links = {
        str(name): LinkInfo(str(i.get("kind", "")), str(i.get("master", "")))
        for name, i in (d.get("links") or {}).items()
    }
    return str(d.get("label", "")), (links, {str(ip) for ip in d.get("local") or ()})

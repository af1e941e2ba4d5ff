"""Turn captured frames into the hop list, and say what happened at each hop.

A veth or a bridge does not touch TTL or MACs; a router decrements TTL and rewrites
both MACs; NAT changes an address. Comparing each hop with the previous one of the
same leg in the same namespace tells which of these happened there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lab.trace.capture import Frame
from lab.trace.packets import REQUEST, Seen


@dataclass(frozen=True)
class LinkInfo:
    kind: str = ""  # bridge, veth, loopback...
    master: str = ""  # the bridge this interface is a port of


@dataclass
class Hop:
    leg: str
    node: str
    netns: str
    ifname: str
    direction: str  # in | out
    ms: float
    src_mac: str
    dst_mac: str
    src_ip: str
    dst_ip: str
    ttl: int
    summary: str
    action: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hop_of(frame: Frame, seen: Seen, node: str, ms: float) -> Hop:
    return Hop(
        leg=seen.leg,
        node=node,
        netns=frame.netns,
        ifname=frame.ifname,
        direction="out" if frame.outgoing else "in",
        ms=ms,
        src_mac=seen.src_mac,
        dst_mac=seen.dst_mac,
        src_ip=seen.src_ip,
        dst_ip=seen.dst_ip,
        ttl=seen.ttl,
        summary=seen.summary,
    )


TIE = 0.002  # seconds: frames this close may carry their kernel stamps out of order


def _reversed(a: tuple[Frame, Seen], b: tuple[Frame, Seen]) -> bool:
    """Whether b must have come before a. A frame that enters a namespace leaves from that
    same namespace, so at one TTL (no router between) a frame goes out of one namespace
    before it comes into the next, and comes into a namespace before it goes out of it."""
    (fa, sa), (fb, sb) = a, b
    if (sa.leg, sa.ttl) != (sb.leg, sb.ttl) or fb.time - fa.time > TIE:
        return False
    if fa.netns != fb.netns:
        return not fa.outgoing and fb.outgoing  # "in" here, then "out" there: swapped
    return fa.outgoing and not fb.outgoing  # "out" before "in" in one namespace: swapped


def settle_ties(frames: list[tuple[Frame, Seen]]) -> list[tuple[Frame, Seen]]:
    """Frames sorted by time, with nearly simultaneous ones put in causal order: under
    load the kernel stamps a veth's two ends, or a bridge's two ports, a few
    microseconds apart either way."""
    out = list(frames)
    for _ in range(len(out)):
        swapped = False
        for i in range(len(out) - 1):
            if _reversed(out[i], out[i + 1]):
                out[i], out[i + 1] = out[i + 1], out[i]
                swapped = True
        if not swapped:
            break
    return out


def build_hops(
    frames: list[tuple[Frame, Seen]], sent_at: float, node_of: dict[str, str]
) -> list[Hop]:
    """One clock saw every frame: kernel timestamps give the order (ties settled)."""
    ordered = settle_ties(sorted(frames, key=lambda fs: fs[0].time))
    return [
        hop_of(frame, seen, node_of.get(frame.netns, ""), _ms(frame.time - sent_at))
        for frame, seen in ordered
    ]


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 3)


BRIDGED = "bridge"  # the direction of a hop inferred at a bridge (see add_bridge_hops)


def add_bridge_hops(hops: list[Hop], links: dict[tuple[str, str], LinkInfo]) -> list[Hop]:
    """Put the bridge itself between a frame entering one port and leaving another.

    A frame bridged from port to port never passes the bridge's own device, so no
    socket can see it there; but entering port A and leaving port B of the same bridge,
    unchanged, is exactly the bridge forwarding it by its FDB. The hop says so.
    """
    out: list[Hop] = []
    for i, hop in enumerate(hops):
        out.append(hop)
        master = links.get((hop.netns, hop.ifname), LinkInfo()).master
        if hop.direction != "in" or not master:
            continue
        after = next((h for h in hops[i + 1 :] if (h.leg, h.netns) == (hop.leg, hop.netns)), None)
        if after is None or after.direction != "out" or after.ttl != hop.ttl:
            continue
        if links.get((after.netns, after.ifname), LinkInfo()).master != master:
            continue
        out.append(
            replace(
                hop,
                ifname=master,
                direction=BRIDGED,
                action=f"bridge {master} finds {hop.dst_mac} behind port {after.ifname} in its FDB",
                notes=[
                    "seen entering and leaving its ports: bridged frames skip the bridge device"
                ],
            )
        )
    return out


def describe(
    hops: list[Hop],
    links: dict[tuple[str, str], LinkInfo],
    labels: dict[str, str],
    local_ips: dict[str, set[str]],
) -> None:
    """Fill each hop's `action` by comparing it with the hops before it in its namespace."""
    last_in: dict[tuple[str, str], Hop] = {}
    previous: dict[tuple[str, str], Hop] = {}
    for i, hop in enumerate(hops):
        info = links.get((hop.netns, hop.ifname), LinkInfo())
        where = labels.get(hop.netns, hop.netns)
        key = (hop.leg, hop.netns)
        before, prev = last_in.get(key), previous.get(key)
        previous[key] = hop
        if hop.direction == BRIDGED:
            continue  # add_bridge_hops said it already
        if hop.direction == "in":
            later = [h for h in hops[i + 1 :] if h.leg == hop.leg and h.netns == hop.netns]
            if info.master:
                hop.action = f"enters bridge {info.master} through port {hop.ifname}"
            elif info.kind == "bridge":
                hop.action = f"bridge {hop.ifname} hands it up to {where}'s IP stack"
            elif later:
                hop.action = f"arrives in {where}"
            elif hop.dst_ip in local_ips.get(hop.netns, set()):
                hop.action = f"delivered to {where}"
            else:
                hop.action = f"arrives in {where}, and goes no further"
            last_in[key] = hop
        elif before is None:
            hop.action = ("sent by " if hop.leg == REQUEST else "answered by ") + where
        elif info.master and prev is not None and prev.ttl == hop.ttl:
            hop.action = f"bridged out of {info.master} through port {hop.ifname}"
        else:
            hop.action = _routed(before, hop, where)


def _routed(before: Hop, hop: Hop, where: str) -> str:
    notes = []
    if hop.ttl < before.ttl:
        notes.append(f"routed by {where} (TTL {before.ttl} -> {hop.ttl}, new MACs)")
    if hop.src_ip != before.src_ip:
        notes.append(f"masqueraded: source {before.src_ip} -> {hop.src_ip}")
    if hop.dst_ip != before.dst_ip:
        notes.append(f"un-NATed: destination {before.dst_ip} -> {hop.dst_ip}")
    return "; ".join(notes) or f"forwarded by {where}"

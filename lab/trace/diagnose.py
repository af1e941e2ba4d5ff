"""Why the probe went no further: ask the kernel of the last namespace that saw it.

The questions are put through a `Kernel`: by default this process asks (a throw-away
thread enters the namespace); a coordinator of node agents passes one that asks the
agent holding the namespace (its /v1/ask endpoint runs `ask_here`/`default_gateway_here`).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from lab.kernel.netns import run_in_netns
from lab.trace.capture import netns_path
from lab.trace.hops import Hop

NUD_FAILED, NUD_INCOMPLETE = 0x20, 0x01


def _ask(dst: str, where: str) -> str:
    """Runs inside the namespace (a throw-away thread): route, forwarding, neighbour."""
    with IPRoute() as ipr:
        try:
            route = ipr.route("get", dst=dst)[0]
        except NetlinkError as e:
            if e.code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                return f"no route to {dst} in {where}"
            return f"{where} cannot route {dst}: {e}"
        if route["type"] == 2:  # RTN_LOCAL: it was for this namespace
            return f"{dst} is local to {where}, but nothing answered"
        if Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() != "1":
            return f"IP forwarding is off in {where}, so it does not route {dst}"
        gateway = route.get("gateway") or dst
        for neigh in ipr.neigh("dump", family=2):
            if neigh.get("dst") == gateway and neigh["state"] & (NUD_FAILED | NUD_INCOMPLETE):
                return f"{where} got no ARP answer from {gateway}"
        dev = route.get("oif")
        return f"{where} would send it to {gateway} (ifindex {dev}), but it was dropped there"


def _default_route_used(dst: str) -> str | None:
    """The gateway of the default route, if that is what `dst` is routed by here."""
    with IPRoute() as ipr:
        try:
            route = ipr.route("get", dst=dst)[0]
        except NetlinkError:
            return None
        table = ipr.route("dump", family=2, table=route.get("table") or 254)
    specific = [r for r in table if r["dst_len"] > 0 and r.get("oif") == route.get("oif")]
    gateway = route.get("gateway")
    if gateway and not any(r.get("gateway") == gateway for r in specific):
        return gateway
    return None


def ask_here(netns: str, dst: str, where: str) -> str:
    """What `netns`'s kernel would do with a packet to `dst` (a sentence naming `where`)."""
    return run_in_netns(netns_path(netns), lambda: _ask(dst, where))


def default_gateway_here(netns: str, dst: str) -> str | None:
    """The default route's gateway, if that is how `netns` routes `dst`."""
    return run_in_netns(netns_path(netns), lambda: _default_route_used(dst))


@dataclass(frozen=True)
class Kernel:
    """Who answers for a namespace: this process, or the node agent that holds it."""

    ask: Callable[[str, str, str], str] = ask_here
    default_gateway: Callable[[str, str], str | None] = default_gateway_here


LOCAL = Kernel()


def _detour(request_hops: list[Hop], dst: str, labels: dict[str, str], kernel: Kernel) -> str:
    """Name the first router that sent the probe away by its default route."""
    for hop in request_hops:
        if hop.direction == "out" and hop.ttl < 64 and hop.netns in labels:
            gateway = kernel.default_gateway(hop.netns, dst)
            if gateway:
                where = labels[hop.netns]
                return f" ({where} has no route to {dst}: its default route sent it to {gateway})"
    return ""


def explain_stop(
    request_hops: list[Hop],
    src_netns: str,
    dst: str,
    labels: dict[str, str],
    kernel: Kernel = LOCAL,
) -> str:
    """One sentence: the last hop that saw the request, and what its kernel says."""
    if not request_hops:
        where = labels.get(src_netns, src_netns)
        return "the probe never left the pod: " + kernel.ask(src_netns, dst, where)
    last = request_hops[-1]
    where = labels.get(last.netns, last.netns)
    if last.direction == "out":  # e.g. towards a host no node agent serves
        left = f"it left {where} through {last.ifname}, and nothing beyond saw it"
        return left + _detour(request_hops, dst, labels, kernel)
    verdict = kernel.ask(last.netns, last.dst_ip, where)
    return f"last seen arriving in {where} on {last.ifname}: {verdict}" + _detour(
        request_hops, dst, labels, kernel
    )

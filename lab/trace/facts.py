"""What the hop descriptions need from a namespace: its links' kinds and bridges, its own
addresses. Read live through a throw-away thread inside it (never the caller's)."""

from __future__ import annotations

from pyroute2 import IPRoute

from lab.kernel.netns import run_in_netns
from lab.trace.capture import netns_path
from lab.trace.hops import LinkInfo


def facts_of(netns: str) -> tuple[dict[str, LinkInfo], set[str]]:
    """Each interface's kind and bridge, and the namespace's own addresses."""

    def read() -> tuple[dict[str, LinkInfo], set[str]]:
        with IPRoute() as ipr:
            msgs = ipr.link("dump")
            local = {m.get("address") for m in ipr.addr("dump", family=2)}
        names = {m["index"]: m.get("ifname") for m in msgs}
        links = {
            m.get("ifname"): LinkInfo(
                kind=m.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or "",
                master=names.get(m.get("master") or 0, ""),
            )
            for m in msgs
        }
        return links, local

    return run_in_netns(netns_path(netns), read)

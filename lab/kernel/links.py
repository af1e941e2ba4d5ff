"""Bridges and veth pairs through netlink, named after `ip link`'s verbs."""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

IFF_UP = 0x1


class LinkNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    mac: str
    mtu: int
    kind: str
    master: int
    alias: str
    up: bool


def _as_link(msg: object) -> Link:
    get = msg.get  # type: ignore[attr-defined]
    return Link(
        index=msg["index"],  # type: ignore[index]
        name=get("ifname"),
        mac=get("address") or "",
        mtu=get("mtu") or 0,
        kind=msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or "",  # type: ignore[attr-defined]
        master=get("master") or 0,
        alias=get("ifalias") or "",
        up=bool(msg["flags"] & IFF_UP),  # type: ignore[index]
    )


def link_by_name(ipr: IPRoute, name: str) -> Link:
    try:
        msgs = ipr.link("get", ifname=name)
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            raise LinkNotFound(name) from e
        raise
    return _as_link(msgs[0])


def link_by_index(ipr: IPRoute, index: int) -> Link:
    try:
        return _as_link(ipr.link("get", index=index)[0])
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            raise LinkNotFound(str(index)) from e
        raise


def list_links(ipr: IPRoute) -> list[Link]:
    return [_as_link(m) for m in ipr.link("dump")]


def ensure_bridge(ipr: IPRoute, name: str, mtu: int | None = None) -> Link:
    """Create the bridge if missing; accept one that exists only if it is a bridge."""
    try:
        kw = {"mtu": mtu} if mtu else {}
        ipr.link("add", ifname=name, kind="bridge", **kw)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
    bridge = link_by_name(ipr, name)
    if bridge.kind != "bridge":
        raise ValueError(
            f"{name!r} already exists and is a {bridge.kind or 'device'}, not a bridge"
        )
    ipr.link("set", index=bridge.index, state="up")
    return bridge


def create_veth_into(
    ipr: IPRoute,
    host_name: str,
    peer_name: str,
    peer_netns_fd: int,
    mtu: int | None = None,
    alias: str = "",
) -> None:
    """Create a veth whose peer is born inside another namespace.

    The peer is never created here and moved: a same-named device on this side
    (another pod's eth0) would collide. EEXIST means the host name is taken.
    """
    kw: dict[str, object] = {"mtu": mtu} if mtu else {}
    peer: dict[str, object] = {"ifname": peer_name, "net_ns_fd": peer_netns_fd, **kw}
    ipr.link("add", ifname=host_name, kind="veth", peer=peer, **kw)
    if alias:  # the kernel ignores IFLA_IFALIAS when creating a link
        ipr.link("set", ifname=host_name, ifalias=alias)


def attach_to_bridge(ipr: IPRoute, port: Link, bridge: Link, hairpin: bool = False) -> None:
    ipr.link("set", index=port.index, master=bridge.index, state="up")
    if hairpin:
        ipr.brport("set", index=port.index, mode=1)


def delete_link(ipr: IPRoute, name: str) -> bool:
    """Delete a link; False when it was already gone (DEL must forgive that)."""
    try:
        ipr.link("del", ifname=name)
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return False
        raise
    return True

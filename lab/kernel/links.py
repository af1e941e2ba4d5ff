"""Bridges and veth pairs through netlink, named after `ip link`'s verbs.

Each function takes an Rtnl (lab/kernel/rtnl.py), or a pyroute2 IPRoute for the
plugins students write and the lab's own cold paths.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pyroute2.netlink import NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, RTM_SETLINK

from lab.kernel.rtnl import (
    AF_BRIDGE,
    IFINFO,
    NLMSG_HDRLEN,
    Netlink,
    as_text,
    as_u32,
    attributes,
    ifinfo,
    nest,
    nla,
    text,
    u32,
    using,
)

IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_PROTINFO = 1, 3, 4, 10, 12
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFLA_BRPORT_MODE = 4  # hairpin


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


def _as_link(msg: bytes) -> Link:
    """An RTM_NEWLINK message: the fields pycni and the lab read."""
    _, _, index, flags, _ = IFINFO.unpack_from(msg, NLMSG_HDRLEN)
    a = attributes(msg, NLMSG_HDRLEN + IFINFO.size)
    info = a.get(IFLA_LINKINFO)
    mac = a.get(IFLA_ADDRESS)
    return Link(
        index=index,
        name=as_text(a.get(IFLA_IFNAME)),
        mac=":".join(f"{b:02x}" for b in mac) if mac else "",
        mtu=as_u32(a.get(IFLA_MTU)),
        kind=as_text(attributes(info, 0).get(IFLA_INFO_KIND)) if info else "",
        master=as_u32(a.get(IFLA_MASTER)),
        alias=as_text(a.get(IFLA_IFALIAS)),
        up=bool(flags & IFF_UP),
    )


def _get(sock: Netlink, body: bytes, what: str) -> Link:
    try:
        with using(sock) as rt:
            return _as_link(rt.request(RTM_GETLINK, body)[0])
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            raise LinkNotFound(what) from e
        raise


def link_by_name(sock: Netlink, name: str) -> Link:
    return _get(sock, ifinfo(text(IFLA_IFNAME, name)), name)


def link_by_index(sock: Netlink, index: int) -> Link:
    return _get(sock, ifinfo(index=index), str(index))


def list_links(sock: Netlink) -> list[Link]:
    with using(sock) as rt:
        return [_as_link(m) for m in rt.dump_all(RTM_GETLINK, ifinfo())]


def _create(sock: Netlink, name: str, *attrs: bytes, up: bool = False) -> Link:
    """`ip link add`: the new link as the kernel echoes it (read back if it does not)."""
    body = ifinfo(text(IFLA_IFNAME, name), *attrs, flags=IFF_UP if up else 0, change=IFF_UP)
    with using(sock) as rt:
        echo = rt.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO)
        return _as_link(echo[0]) if echo else link_by_name(rt, name)


def ensure_bridge(sock: Netlink, name: str, mtu: int | None = None) -> Link:
    """Create the bridge, up, if missing; accept one that exists only if it is a bridge."""
    kind = nest(IFLA_LINKINFO, text(IFLA_INFO_KIND, "bridge"))
    try:
        return _create(sock, name, *([u32(IFLA_MTU, mtu)] if mtu else []), kind, up=True)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
    bridge = link_by_name(sock, name)
    if bridge.kind != "bridge":
        raise ValueError(
            f"{name!r} already exists and is a {bridge.kind or 'device'}, not a bridge"
        )
    if not bridge.up:
        set_link(sock, bridge.index, up=True)
    return bridge


def create_veth_into(
    sock: Netlink,
    host_name: str,
    peer_name: str,
    peer_netns_fd: int,
    mtu: int | None = None,
    alias: str = "",
) -> Link:
    """Create a veth whose peer is born inside another namespace; the host end.

    The peer is never created here and moved: a same-named device on this side
    (another pod's eth0) would collide. EEXIST means the host name is taken.
    """
    mtu_attr = [u32(IFLA_MTU, mtu)] if mtu else []
    peer = ifinfo(text(IFLA_IFNAME, peer_name), u32(IFLA_NET_NS_FD, peer_netns_fd), *mtu_attr)
    info = nest(
        IFLA_LINKINFO,
        text(IFLA_INFO_KIND, "veth"),
        nest(IFLA_INFO_DATA, nest(VETH_INFO_PEER, peer)),
    )
    link = _create(sock, host_name, *mtu_attr, info)
    if alias:  # the kernel ignores IFLA_IFALIAS when creating a link
        set_link(sock, link.index, alias=alias)
    return link


def set_link(
    sock: Netlink,
    index: int,
    *,
    up: bool | None = None,
    master: int | None = None,
    alias: str | None = None,
    mtu: int | None = None,
) -> None:
    """`ip link set`: what is given, in one request."""
    attrs = []
    if master is not None:
        attrs.append(u32(IFLA_MASTER, master))
    if alias is not None:
        attrs.append(text(IFLA_IFALIAS, alias))
    if mtu is not None:
        attrs.append(u32(IFLA_MTU, mtu))
    flags = IFF_UP if up else 0
    body = ifinfo(*attrs, index=index, flags=flags, change=0 if up is None else IFF_UP)
    with using(sock) as rt:
        rt.request(RTM_NEWLINK, body)


def attach_to_bridge(sock: Netlink, port: Link, bridge: Link, hairpin: bool = False) -> None:
    set_link(sock, port.index, master=bridge.index, up=True)
    if hairpin:  # `bridge link set dev PORT hairpin on`
        mode = nest(IFLA_PROTINFO, nla(IFLA_BRPORT_MODE, b"\x01"))
        with using(sock) as rt:
            rt.request(RTM_SETLINK, ifinfo(mode, index=port.index, family=AF_BRIDGE))


def delete_link(sock: Netlink, name: str) -> bool:
    """Delete a link; False when it was already gone (DEL must forgive that)."""
    try:
        with using(sock) as rt:
            rt.request(RTM_DELLINK, ifinfo(text(IFLA_IFNAME, name)))
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return False
        raise
    return True

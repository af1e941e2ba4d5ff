"""Dump one namespace through its socket into plain, frozen dataclasses.

What is read: every link; IPv4 addresses; IPv4 routes of the main table; IPv4
neighbours (ARP); for each bridge, its forwarding database (entries the bridge
itself holds, not the ports' own multicast lists); and, given a netfilter socket
(nodes), the nftables rules that masquerade. The kernel filters routes and FDB
entries (strict checking is on). Nothing is configured; as with `ip link`, dumping a
link whose peer is elsewhere may make the kernel give that namespace an id.
"""

from __future__ import annotations

import errno
import functools
import socket
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from lab.inspect import decode
from lab.inspect.dump import (
    Address,
    FdbEntry,
    Interface,
    NamespaceDump,
    Neighbour,
    Route,
)
from lab.inspect.links import apply_link_messages
from lab.inspect.netlink import (
    ADDRESSES,
    FDB,
    LINKS,
    NEIGHBOURS,
    ROUTES,
    Request,
    RouteSocket,
)
from lab.inspect.nft import MASQUERADE, NetfilterSocket
from lab.kernel.rtnl import AF_BRIDGE

__all__ = [
    "Address",
    "FdbEntry",
    "Interface",
    "NamespaceDump",
    "Neighbour",
    "Route",
    "read_namespace",
]

MAIN_TABLE = decode.MAIN_TABLE
RTEXT_FILTER_SKIP_STATS = 1 << 3
T = TypeVar("T")


def _request(cls: type, msg_type: int, about: str | None = None, **fields: Any) -> Request:
    msg = cls()
    msg["attrs"] = fields.pop("attrs", [])
    for name, value in fields.items():
        msg[name] = value
    return Request(msg, msg_type, about=about)


_LINKS = _request(ifinfmsg, RTM_GETLINK, LINKS, attrs=[("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)])
_ADDRESSES = _request(ifaddrmsg, RTM_GETADDR, ADDRESSES, family=socket.AF_INET)
_ROUTES = _request(rtmsg, RTM_GETROUTE, ROUTES, family=socket.AF_INET, table=MAIN_TABLE)
_NEIGHBOURS = _request(ndmsg, RTM_GETNEIGH, NEIGHBOURS, family=socket.AF_INET)


@functools.lru_cache(maxsize=64)
def _fdb_request(bridge: int) -> Request:
    return _request(ndmsg, RTM_GETNEIGH, FDB, family=AF_BRIDGE, attrs=[("NDA_MASTER", bridge)])


def _decoded(replies: list[bytes], one: Callable[[bytes], T | None]) -> tuple[T, ...]:
    return tuple(x for x in map(one, replies) if x is not None)


def read_namespace(
    sock: RouteSocket,
    nft: NetfilterSocket | None = None,
    kinds: Collection[str] | None = None,
    before: NamespaceDump | None = None,
) -> NamespaceDump:
    """The namespace's dump; given `before` and the `kinds` that changed since (what
    the notifications were about: netlink.LINKS ..., nft.MASQUERADE), only those are
    read again, the rest kept from `before`.

    The link notifications the socket kept are applied to `before`'s links (links.py)
    unless the links are dumped anyway (then they are older than the dump). A dump of
    the links, or a link that went away or down, also re-reads routes and neighbours
    (the kernel drops a gone link's routes without a notification), and FDB entries
    are read again when the set of bridges changed (a bridge's entries come and go
    with notifications of their own)."""
    messages = sock.take_link_messages()
    if kinds is None or before is None or before.error:
        return _read_all(sock, nft)
    todo = set(kinds)
    interfaces = before.interfaces
    if messages and LINKS not in todo:
        applied = apply_link_messages(before.interfaces, messages)
        if applied is None:
            todo.add(LINKS)
        else:
            interfaces, lost = applied
            if lost:
                todo |= {ROUTES, NEIGHBOURS}
    if LINKS in todo:
        interfaces = read_interfaces(sock)
        todo |= {ROUTES, NEIGHBOURS}
    if _bridges(interfaces) != _bridges(before.interfaces):
        todo.add(FDB)
    return NamespaceDump(
        interfaces=interfaces,
        addresses=read_addresses(sock) if ADDRESSES in todo else before.addresses,
        routes=read_routes(sock) if ROUTES in todo else before.routes,
        neighbours=read_neighbours(sock) if NEIGHBOURS in todo else before.neighbours,
        fdb=_read_fdbs(sock, interfaces) if FDB in todo else before.fdb,
        masquerade=nft.masquerade_rules()
        if nft is not None and MASQUERADE in todo
        else before.masquerade,
    )


def _bridges(interfaces: tuple[Interface, ...]) -> list[int]:
    return [i.index for i in interfaces if i.kind == "bridge"]


def _read_fdbs(sock: RouteSocket, interfaces: tuple[Interface, ...]) -> tuple[FdbEntry, ...]:
    return tuple(e for bridge in _bridges(interfaces) for e in read_fdb(sock, bridge))


def _read_all(sock: RouteSocket, nft: NetfilterSocket | None) -> NamespaceDump:
    interfaces = read_interfaces(sock)
    return NamespaceDump(
        interfaces=interfaces,
        addresses=read_addresses(sock),
        routes=read_routes(sock),
        neighbours=read_neighbours(sock),
        fdb=_read_fdbs(sock, interfaces),
        masquerade=nft.masquerade_rules() if nft is not None else (),
    )


def read_interfaces(sock: RouteSocket) -> tuple[Interface, ...]:
    return _decoded(sock.dump(_LINKS), decode.interface)


def read_addresses(sock: RouteSocket) -> tuple[Address, ...]:
    return _decoded(sock.dump(_ADDRESSES), decode.address)


def read_routes(sock: RouteSocket) -> tuple[Route, ...]:
    try:
        return _decoded(sock.dump(_ROUTES), decode.route)
    except NetlinkError as e:
        if e.code != errno.ENOENT:  # no main table yet: nothing was ever routed here
            raise
        return ()


def read_neighbours(sock: RouteSocket) -> tuple[Neighbour, ...]:
    return _decoded(sock.dump(_NEIGHBOURS), decode.neighbour)


def read_fdb(sock: RouteSocket, bridge: int) -> list[FdbEntry]:
    """What `bridge fdb show br BRIDGE` lists as the bridge's own (master) entries (a
    port's own address list, "self", names no master and is left out)."""
    return list(_decoded(sock.dump(_fdb_request(bridge)), lambda m: decode.fdb_entry(m, bridge)))

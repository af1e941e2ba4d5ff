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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETROUTE
from pyroute2.netlink.rtnl import rt_proto as RT_PROTO
from pyroute2.netlink.rtnl import rt_scope as RT_SCOPE
from pyroute2.netlink.rtnl import rt_type as RT_TYPE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import NTF_SELF, NUD_NAMES, NUD_PERMANENT, ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from lab.inspect.netlink import Request, RouteSocket
from lab.inspect.nft import MasqueradeRule, NetfilterSocket

AF_BRIDGE = 7
MAIN_TABLE = 254
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
RTEXT_FILTER_SKIP_STATS = 1 << 3
NDM_FLAGS_AT = 16 + 10  # nlmsghdr, then ndm_family, pad, ndm_ifindex, ndm_state, ndm_flags


@dataclass(frozen=True)
class Interface:
    index: int
    name: str
    kind: str  # veth, bridge, loopback, device (no IFLA_INFO_KIND), ...
    mac: str
    mtu: int
    operstate: str  # UP, DOWN, LOWERLAYERDOWN, UNKNOWN, ...
    up: bool  # administratively (IFF_UP)
    master: int  # ifindex of the bridge it is a port of, 0 if none
    link: int  # IFLA_LINK: a veth's peer ifindex (in the peer's namespace)
    link_netnsid: int | None  # the peer's namespace, as *this* namespace numbers it
    alias: str


@dataclass(frozen=True)
class Address:
    index: int
    cidr: str  # 10.244.0.1/24
    scope: str
    label: str


@dataclass(frozen=True)
class Route:
    dst: str  # "default" or a CIDR
    gateway: str
    oif: int  # 0 when the route has several next hops
    prefsrc: str
    protocol: str  # kernel, static, boot, ...
    scope: str  # universe, link, host
    type: str  # unicast, blackhole, ...
    metric: int
    nexthops: tuple[tuple[str, int], ...] = ()  # (gateway, oif) of a multipath route


@dataclass(frozen=True)
class Neighbour:
    index: int
    ip: str
    mac: str
    state: str  # REACHABLE, STALE, PERMANENT, ...


@dataclass(frozen=True)
class FdbEntry:
    bridge: int
    port: int
    mac: str
    vlan: int | None
    local: bool  # the bridge's own address on that port (permanent), not learned
    state: str


@dataclass(frozen=True)
class NamespaceDump:
    interfaces: tuple[Interface, ...] = ()
    addresses: tuple[Address, ...] = ()
    routes: tuple[Route, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    fdb: tuple[FdbEntry, ...] = ()
    masquerade: tuple[MasqueradeRule, ...] = ()  # read only where a netfilter socket is
    error: str = ""  # why the namespace could not be read, if it could not


def _request(
    cls: type,
    msg_type: int,
    keep: tuple[str, ...],
    skip: Callable[[bytes, int], bool] | None = None,
    **fields: Any,
) -> Request:
    """A dump request of `cls`, decoding only the attributes named in `keep`."""
    msg = cls()
    msg["attrs"] = fields.pop("attrs", [])
    for name, value in fields.items():
        msg[name] = value
    order = [item[0] for item in cls.nla_map]  # these maps are positional: index = type
    return Request(msg, msg_type, keep=[order.index(name) for name in keep], skip=skip)


_LINKS = _request(
    ifinfmsg,
    RTM_GETLINK,
    (
        "IFLA_ADDRESS",
        "IFLA_IFNAME",
        "IFLA_MTU",
        "IFLA_LINK",
        "IFLA_MASTER",
        "IFLA_OPERSTATE",
        "IFLA_LINKINFO",
        "IFLA_IFALIAS",
        "IFLA_LINK_NETNSID",
    ),
    attrs=[("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)],
)
_ADDRESSES = _request(
    ifaddrmsg, RTM_GETADDR, ("IFA_ADDRESS", "IFA_LOCAL", "IFA_LABEL"), family=socket.AF_INET
)
_ROUTES = _request(
    rtmsg,
    RTM_GETROUTE,
    (
        "RTA_DST",
        "RTA_OIF",
        "RTA_GATEWAY",
        "RTA_PRIORITY",
        "RTA_PREFSRC",
        "RTA_MULTIPATH",
        "RTA_TABLE",
    ),
    family=socket.AF_INET,
    table=MAIN_TABLE,
)
_NEIGHBOURS = _request(ndmsg, RTM_GETNEIGH, ("NDA_DST", "NDA_LLADDR"), family=socket.AF_INET)


def _port_own_address(data: bytes, offset: int) -> bool:
    """An FDB reply for a device's own address list (`self`), not the bridge's table."""
    return bool(data[offset + NDM_FLAGS_AT] & NTF_SELF)


@functools.lru_cache(maxsize=64)
def _fdb_request(bridge: int) -> Request:
    return _request(
        ndmsg,
        RTM_GETNEIGH,
        ("NDA_LLADDR", "NDA_VLAN", "NDA_MASTER"),
        skip=_port_own_address,
        family=AF_BRIDGE,
        attrs=[("NDA_MASTER", bridge)],
    )


def read_namespace(sock: RouteSocket, nft: NetfilterSocket | None = None) -> NamespaceDump:
    interfaces = read_interfaces(sock)
    fdb: list[FdbEntry] = []
    for bridge in interfaces:
        if bridge.kind == "bridge":
            fdb.extend(read_fdb(sock, bridge.index))
    return NamespaceDump(
        interfaces=interfaces,
        addresses=read_addresses(sock),
        routes=read_routes(sock),
        neighbours=read_neighbours(sock),
        fdb=tuple(fdb),
        masquerade=nft.masquerade_rules() if nft is not None else (),
    )


def read_interfaces(sock: RouteSocket) -> tuple[Interface, ...]:
    return tuple(_interface(m) for m in sock.dump(_LINKS))


def _interface(msg: ifinfmsg) -> Interface:
    attrs = _Attrs(msg)
    kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
    if not kind:
        kind = "loopback" if msg["flags"] & IFF_LOOPBACK else "device"
    return Interface(
        index=msg["index"],
        name=attrs.get("IFLA_IFNAME", ""),
        kind=kind,
        mac=attrs.get("IFLA_ADDRESS", ""),
        mtu=attrs.get("IFLA_MTU", 0),
        operstate=attrs.get("IFLA_OPERSTATE", "UNKNOWN"),
        up=bool(msg["flags"] & IFF_UP),
        master=attrs.get("IFLA_MASTER", 0),
        link=attrs.get("IFLA_LINK", 0),
        link_netnsid=attrs.get("IFLA_LINK_NETNSID"),
        alias=attrs.get("IFLA_IFALIAS", ""),
    )


def read_addresses(sock: RouteSocket) -> tuple[Address, ...]:
    out = []
    for m in sock.dump(_ADDRESSES):
        attrs = _Attrs(m)
        ip = attrs.get("IFA_LOCAL") or attrs.get("IFA_ADDRESS", "")
        out.append(
            Address(
                index=m["index"],
                cidr=f"{ip}/{m['prefixlen']}",
                scope=RT_SCOPE.get(m["scope"], str(m["scope"])),
                label=attrs.get("IFA_LABEL", ""),
            )
        )
    return tuple(out)


def read_routes(sock: RouteSocket) -> tuple[Route, ...]:
    out = []
    try:
        replies = sock.dump(_ROUTES)
    except NetlinkError as e:
        if e.code != errno.ENOENT:  # no main table yet: nothing was ever routed here
            raise
        replies = []
    for m in replies:
        attrs = _Attrs(m)
        if attrs.get("RTA_TABLE", m["table"]) != MAIN_TABLE:
            continue
        dst = attrs.get("RTA_DST")
        hops = tuple(
            (hop.get_attr("RTA_GATEWAY") or "", hop["oif"])
            for hop in attrs.get("RTA_MULTIPATH") or ()
        )
        out.append(
            Route(
                dst=f"{dst}/{m['dst_len']}" if dst else "default",
                gateway=attrs.get("RTA_GATEWAY", ""),
                oif=attrs.get("RTA_OIF", 0),
                prefsrc=attrs.get("RTA_PREFSRC", ""),
                protocol=RT_PROTO.get(m["proto"], str(m["proto"])),
                scope=RT_SCOPE.get(m["scope"], str(m["scope"])),
                type=RT_TYPE.get(m["type"], str(m["type"])),
                metric=attrs.get("RTA_PRIORITY", 0),
                nexthops=hops,
            )
        )
    return tuple(out)


def read_neighbours(sock: RouteSocket) -> tuple[Neighbour, ...]:
    out = []
    for m in sock.dump(_NEIGHBOURS):
        attrs = _Attrs(m)
        out.append(
            Neighbour(
                index=m["ifindex"],
                ip=attrs.get("NDA_DST", ""),
                mac=attrs.get("NDA_LLADDR", ""),
                state=_state(m["state"]),
            )
        )
    return tuple(out)


def read_fdb(sock: RouteSocket, bridge: int) -> list[FdbEntry]:
    """What `bridge fdb show br BRIDGE` lists as the bridge's own (master) entries."""
    out = []
    for m in sock.dump(_fdb_request(bridge)):
        attrs = _Attrs(m)
        if attrs.get("NDA_MASTER") != bridge:  # a port's own address list ("self")
            continue
        out.append(
            FdbEntry(
                bridge=bridge,
                port=m["ifindex"],
                mac=attrs.get("NDA_LLADDR", ""),
                vlan=attrs.get("NDA_VLAN"),
                local=bool(m["state"] & NUD_PERMANENT),
                state=_state(m["state"]),
            )
        )
    return out


class _Attrs:
    """A message's attributes by name; each is decoded only when asked for."""

    def __init__(self, msg: object) -> None:
        self._slots = {slot.name: slot for slot in msg["attrs"]}  # type: ignore[index]

    def get(self, name: str, default: object = None) -> Any:
        slot = self._slots.get(name)
        return default if slot is None else slot.get_value()


_NUD = sorted((bit, name[4:]) for name, bit in NUD_NAMES.items() if bit)


def _state(state: int) -> str:
    return ",".join(name for bit, name in _NUD if state & bit) or "NONE"

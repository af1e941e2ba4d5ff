"""Dump one namespace through its socket into plain, frozen dataclasses.

What is read: every link; IPv4 addresses; IPv4 routes of the main table; IPv4
neighbours (ARP); and, for each bridge, its forwarding database (entries the bridge
itself holds, not the ports' own multicast lists). The kernel filters routes and FDB
entries (strict checking is on); nothing is written.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETROUTE
from pyroute2.netlink.rtnl import rt_proto as RT_PROTO
from pyroute2.netlink.rtnl import rt_scope as RT_SCOPE
from pyroute2.netlink.rtnl import rt_type as RT_TYPE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import NTF_MASTER, NUD_NAMES, NUD_PERMANENT, ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from lab.inspect.netlink import RouteSocket

AF_BRIDGE = 7
MAIN_TABLE = 254
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
RTEXT_FILTER_SKIP_STATS = 1 << 3


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
    error: str = ""  # why the namespace could not be read, if it could not


def read_namespace(sock: RouteSocket) -> NamespaceDump:
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
    )


def read_interfaces(sock: RouteSocket) -> tuple[Interface, ...]:
    req = ifinfmsg()
    req["attrs"] = [("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)]
    return tuple(_interface(m) for m in sock.dump(req, RTM_GETLINK))


def _interface(msg: ifinfmsg) -> Interface:
    attrs = _attrs(msg)
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
    req = ifaddrmsg()
    req["family"] = socket.AF_INET
    out = []
    for m in sock.dump(req, RTM_GETADDR):
        attrs = _attrs(m)
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
    req = rtmsg()
    req["family"] = socket.AF_INET
    req["table"] = MAIN_TABLE
    out = []
    for m in sock.dump(req, RTM_GETROUTE):
        attrs = _attrs(m)
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
    req = ndmsg()
    req["family"] = socket.AF_INET
    out = []
    for m in sock.dump(req, RTM_GETNEIGH):
        attrs = _attrs(m)
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
    req = ndmsg()
    req["family"] = AF_BRIDGE
    req["attrs"] = [("NDA_MASTER", bridge)]
    out = []
    for m in sock.dump(req, RTM_GETNEIGH):
        if not m["flags"] & NTF_MASTER:
            continue
        attrs = _attrs(m)
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


def _attrs(msg: object) -> dict:
    """The message's attributes by name, decoded (each NLA is decoded once, on demand)."""
    return dict(msg["attrs"])  # type: ignore[index]


def _state(state: int) -> str:
    names = [name[4:] for bit, name in NUD_NAMES.items() if isinstance(bit, int) and state & bit]
    return ",".join(names) if names else "NONE"

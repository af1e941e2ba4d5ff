"""What one namespace holds, as read from the kernel: plain, frozen dataclasses.

read.py fills them (through decode.py); graph.py, peers.py and routes.py read them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.inspect.nft import MasqueradeRule


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

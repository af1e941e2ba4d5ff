"""rtnetlink replies decoded by hand: only the fields the snapshot shows.

pyroute2 builds a full object per message and per attribute (a link carries ~45), and
that decoding was most of a snapshot's time (bench/inspect_snapshot.py, 2 x 250 pods:
~60% of a full read). Here each message is one `struct` unpack of its fixed header and
one walk over its attributes, keeping the few we use, straight into read.py's
dataclasses. tests/inspect/test_inspect_decode.py checks every field against pyroute2's
decoding of the same bytes, dumped from a real lab.

Each function takes one message (header included) as bytes and returns the dataclass,
or None for a message it does not describe (too short, another family).
"""

from __future__ import annotations

import socket
import struct

from pyroute2.netlink.rtnl import rt_proto as RT_PROTO
from pyroute2.netlink.rtnl import rt_scope as RT_SCOPE
from pyroute2.netlink.rtnl import rt_type as RT_TYPE
from pyroute2.netlink.rtnl.ndmsg import NUD_NAMES, NUD_PERMANENT

from lab.inspect.dump import Address, FdbEntry, Interface, Neighbour, Route
from lab.kernel.links import (
    IFLA_ADDRESS,
    IFLA_IFALIAS,
    IFLA_IFNAME,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_MASTER,
    IFLA_MTU,
)
from lab.kernel.rtnl import IFADDR as _IFADDR
from lab.kernel.rtnl import IFINFO as _IFINFO
from lab.kernel.rtnl import NLMSG_HDRLEN, attributes

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
MAIN_TABLE = 254
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")

_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type
_NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
_RTNH = struct.Struct("=HBBi")  # rtnexthop: len, flags, hops, ifindex
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_U16 = struct.Struct("=H")

# attribute types (linux/if_link.h, if_addr.h, rtnetlink.h, neighbour.h)
IFLA_LINK, IFLA_OPERSTATE, IFLA_LINK_NETNSID = 5, 16, 37
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC = 1, 4, 5, 6, 7
RTA_MULTIPATH, RTA_TABLE = 9, 15
NDA_DST, NDA_LLADDR, NDA_VLAN, NDA_MASTER = 1, 2, 5, 9

_NUD = sorted((bit, name[4:]) for name, bit in NUD_NAMES.items() if bit)


def _attrs_after(msg: bytes, fixed: int) -> dict[int, bytes]:
    return attributes(msg, (NLMSG_HDRLEN + fixed + 3) & ~3, len(msg))


def _text(value: bytes | None) -> str:
    return value.split(b"\0", 1)[0].decode(errors="replace") if value else ""


def _u32(value: bytes | None, default: int = 0) -> int:
    return _U32.unpack_from(value)[0] if value and len(value) >= 4 else default


def _ipv4(value: bytes | None) -> str:
    return socket.inet_ntop(socket.AF_INET, value[:4]) if value and len(value) >= 4 else ""


def _mac(value: bytes | None) -> str:
    return ":".join(f"{b:02x}" for b in value) if value else ""


def _name(table: dict, code: int) -> str:
    return table.get(code, str(code))


def nud_state(state: int) -> str:
    return ",".join(name for bit, name in _NUD if state & bit) or "NONE"


def interface(msg: bytes) -> Interface | None:
    """An RTM_NEWLINK message."""
    if len(msg) < NLMSG_HDRLEN + _IFINFO.size:
        return None
    _, _, index, flags, _ = _IFINFO.unpack_from(msg, NLMSG_HDRLEN)
    a = _attrs_after(msg, _IFINFO.size)
    info = a.get(IFLA_LINKINFO)
    kind = _text(attributes(info, 0, len(info)).get(IFLA_INFO_KIND)) if info else ""
    if not kind:
        kind = "loopback" if flags & IFF_LOOPBACK else "device"
    operstate = a.get(IFLA_OPERSTATE)
    netnsid = a.get(IFLA_LINK_NETNSID)
    return Interface(
        index=index,
        name=_text(a.get(IFLA_IFNAME)),
        kind=kind,
        mac=_mac(a.get(IFLA_ADDRESS)),
        mtu=_u32(a.get(IFLA_MTU)),
        operstate=OPERSTATES[operstate[0]]
        if operstate and operstate[0] < len(OPERSTATES)
        else "UNKNOWN",
        up=bool(flags & IFF_UP),
        master=_u32(a.get(IFLA_MASTER)),
        link=_u32(a.get(IFLA_LINK)),
        link_netnsid=_I32.unpack_from(netnsid)[0] if netnsid and len(netnsid) >= 4 else None,
        alias=_text(a.get(IFLA_IFALIAS)),
    )


def address(msg: bytes) -> Address | None:
    """An RTM_NEWADDR message of an IPv4 address."""
    if len(msg) < NLMSG_HDRLEN + _IFADDR.size:
        return None
    family, prefixlen, _, scope, index = _IFADDR.unpack_from(msg, NLMSG_HDRLEN)
    if family != socket.AF_INET:
        return None
    a = _attrs_after(msg, _IFADDR.size)
    ip = _ipv4(a.get(IFA_LOCAL)) or _ipv4(a.get(IFA_ADDRESS))
    return Address(index, f"{ip}/{prefixlen}", _name(RT_SCOPE, scope), _text(a.get(IFA_LABEL)))


def _nexthops(value: bytes | None) -> tuple[tuple[str, int], ...]:
    hops = []
    pos, end = 0, len(value or b"")
    while value and pos + _RTNH.size <= end:
        length, _, _, oif = _RTNH.unpack_from(value, pos)
        if length < _RTNH.size or pos + length > end:
            break
        gateway = attributes(value, pos + _RTNH.size, pos + length).get(RTA_GATEWAY)
        hops.append((_ipv4(gateway), oif))
        pos += (length + 3) & ~3
    return tuple(hops)


def route(msg: bytes) -> Route | None:
    """An RTM_NEWROUTE message of an IPv4 route in the main table (None for others)."""
    if len(msg) < NLMSG_HDRLEN + _RTMSG.size:
        return None
    family, dst_len, _, _, table, proto, scope, kind, _ = _RTMSG.unpack_from(msg, NLMSG_HDRLEN)
    a = _attrs_after(msg, _RTMSG.size)
    if family != socket.AF_INET or _u32(a.get(RTA_TABLE), table) != MAIN_TABLE:
        return None
    dst = _ipv4(a.get(RTA_DST))
    return Route(
        dst=f"{dst}/{dst_len}" if dst else "default",
        gateway=_ipv4(a.get(RTA_GATEWAY)),
        oif=_u32(a.get(RTA_OIF)),
        prefsrc=_ipv4(a.get(RTA_PREFSRC)),
        protocol=_name(RT_PROTO, proto),
        scope=_name(RT_SCOPE, scope),
        type=_name(RT_TYPE, kind),
        metric=_u32(a.get(RTA_PRIORITY)),
        nexthops=_nexthops(a.get(RTA_MULTIPATH)),
    )


def neighbour(msg: bytes) -> Neighbour | None:
    """An RTM_NEWNEIGH message of an IPv4 neighbour (ARP)."""
    if len(msg) < NLMSG_HDRLEN + _NDMSG.size:
        return None
    family, ifindex, state, _, _ = _NDMSG.unpack_from(msg, NLMSG_HDRLEN)
    if family != socket.AF_INET:
        return None
    a = _attrs_after(msg, _NDMSG.size)
    return Neighbour(ifindex, _ipv4(a.get(NDA_DST)), _mac(a.get(NDA_LLADDR)), nud_state(state))


def fdb_entry(msg: bytes, bridge: int) -> FdbEntry | None:
    """An RTM_NEWNEIGH message of `bridge`'s forwarding database (None for a port's own
    address list, which names no master)."""
    if len(msg) < NLMSG_HDRLEN + _NDMSG.size:
        return None
    _, ifindex, state, _, _ = _NDMSG.unpack_from(msg, NLMSG_HDRLEN)
    a = _attrs_after(msg, _NDMSG.size)
    if _u32(a.get(NDA_MASTER), -1) != bridge:
        return None
    vlan = a.get(NDA_VLAN)
    return FdbEntry(
        bridge=bridge,
        port=ifindex,
        mac=_mac(a.get(NDA_LLADDR)),
        vlan=_U16.unpack_from(vlan)[0] if vlan and len(vlan) >= 2 else None,
        local=bool(state & NUD_PERMANENT),
        state=nud_state(state),
    )

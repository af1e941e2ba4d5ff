"""Addresses and routes: idempotent where the CNI contract needs it.

Each function takes an Rtnl (lab/kernel/rtnl.py), or a pyroute2 IPRoute.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWROUTE

from lab.cni.result import IPAddress, IPInterface, IPNetwork
from lab.kernel.rtnl import (
    IFADDR,
    NLMSG_HDRLEN,
    RTMSG,
    Netlink,
    as_u32,
    attributes,
    ifaddr,
    nla,
    rtmsg,
    u32,
    using,
)

IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15
MAIN_TABLE = 254
RTPROT_STATIC, RTN_UNICAST = 4, 1  # what pyroute2's route("add") sends by default


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


def _ip(value: bytes, family: int) -> IPAddress:
    return ipaddress.ip_address(value[: 4 if family == socket.AF_INET else 16])


def addresses(sock: Netlink, index: int = 0, version: int = 0) -> list[IPInterface]:
    """Every address the link holds (of IP `version`, else IPv4 and IPv6); with no
    index, every link's."""
    found = []
    with using(sock) as rt:
        msgs = rt.dump_all(RTM_GETADDR, ifaddr(_family(version) if version else 0, 0, index))
    for msg in msgs:
        family, prefixlen, _, _, at = IFADDR.unpack_from(msg, NLMSG_HDRLEN)
        value = attributes(msg, NLMSG_HDRLEN + IFADDR.size).get(IFA_ADDRESS)
        if index in (0, at) and value and family in (socket.AF_INET, socket.AF_INET6):
            found.append(ipaddress.ip_interface(f"{_ip(value, family)}/{prefixlen}"))
    return found


def add_address(sock: Netlink, index: int, iface: IPInterface) -> None:
    ip = iface.ip.packed
    attrs = [nla(IFA_LOCAL, ip), nla(IFA_ADDRESS, ip)]
    if iface.version == 4 and iface.network.prefixlen < 31:
        attrs.append(nla(IFA_BROADCAST, iface.network.broadcast_address.packed))
    body = ifaddr(_family(iface.version), iface.network.prefixlen, index, *attrs)
    with using(sock) as rt:
        rt.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL)


def ensure_address(sock: Netlink, index: int, iface: IPInterface) -> None:
    """Add an address unless the link already holds it (the bridge's gateway, on the 2nd pod)."""
    try:
        add_address(sock, index, iface)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise


def add_route(
    sock: Netlink,
    dst: IPNetwork,
    gateway: IPAddress | None,
    oif: int,
    *,
    table: int = MAIN_TABLE,
    priority: int | None = None,
) -> None:
    """`ip route add DST [via GATEWAY] dev OIF [table T] [metric P]`."""
    attrs = [] if dst.prefixlen == 0 else [nla(RTA_DST, dst.network_address.packed)]
    if gateway is not None:
        attrs.append(nla(RTA_GATEWAY, gateway.packed))
    attrs.append(u32(RTA_OIF, oif))
    if priority is not None:
        attrs.append(u32(RTA_PRIORITY, priority))
    attrs.append(u32(RTA_TABLE, table))
    body = rtmsg(
        _family(dst.version),
        dst.prefixlen,
        *attrs,
        table=table if table < 256 else 0,  # RTA_TABLE holds any table
        proto=RTPROT_STATIC,
        kind=RTN_UNICAST,
    )
    with using(sock) as rt:
        rt.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL)


def routes(sock: Netlink, version: int = 4) -> list[tuple[IPNetwork, IPAddress | None, int]]:
    """(destination, gateway, oif) of the main table, for CHECK and tests."""
    family = _family(version)
    found = []
    with using(sock) as rt:
        msgs = rt.dump_all(RTM_GETROUTE, rtmsg(family, 0, table=MAIN_TABLE))
    for msg in msgs:
        fam, dst_len, _, _, table, *_ = RTMSG.unpack_from(msg, NLMSG_HDRLEN)
        a = attributes(msg, NLMSG_HDRLEN + RTMSG.size)
        table = as_u32(a.get(RTA_TABLE), table)
        if fam != family or table != MAIN_TABLE:
            continue
        dst = _ip(a[RTA_DST], fam) if RTA_DST in a else ("0.0.0.0" if version == 4 else "::")
        gw = a.get(RTA_GATEWAY)
        oif = a.get(RTA_OIF)
        found.append(
            (
                ipaddress.ip_network(f"{dst}/{dst_len}", strict=False),
                _ip(gw, fam) if gw else None,
                as_u32(oif),
            )
        )
    return found

"""Addresses and routes: idempotent where the CNI contract needs it."""

from __future__ import annotations

import errno
import ipaddress
import socket

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from lab.cni.result import IPAddress, IPInterface, IPNetwork


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


def addresses(ipr: IPRoute, index: int) -> list[IPInterface]:
    found = []
    for msg in ipr.addr("dump", index=index):
        found.append(ipaddress.ip_interface(f"{msg.get('address')}/{msg['prefixlen']}"))
    return found


def add_address(ipr: IPRoute, index: int, iface: IPInterface) -> None:
    kw: dict[str, object] = {}
    if iface.version == 4 and iface.network.prefixlen < 31:
        kw["broadcast"] = str(iface.network.broadcast_address)
    ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen, **kw)


def ensure_address(ipr: IPRoute, index: int, iface: IPInterface) -> None:
    """Add an address unless the link already holds it (the bridge's gateway, on the 2nd pod)."""
    try:
        add_address(ipr, index, iface)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise


def add_route(
    ipr: IPRoute, dst: IPNetwork, gateway: IPAddress | None, oif: int, **extra: int
) -> None:
    kw: dict[str, object] = {"dst": str(dst.network_address), "dst_len": dst.prefixlen, "oif": oif}
    kw["family"] = _family(dst.version)
    if gateway is not None:
        kw["gateway"] = str(gateway)
    kw.update({k: v for k, v in extra.items() if v is not None})
    ipr.route("add", **kw)


def routes(ipr: IPRoute, version: int = 4) -> list[tuple[IPNetwork, IPAddress | None, int]]:
    """(destination, gateway, oif) of the main table, for CHECK and tests."""
    found = []
    for msg in ipr.route("dump", family=_family(version), table=254):
        dst = msg.get("dst") or ("0.0.0.0" if version == 4 else "::")
        gw = msg.get("gateway")
        found.append(
            (
                ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False),
                ipaddress.ip_address(gw) if gw else None,
                msg.get("oif") or 0,
            )
        )
    return found

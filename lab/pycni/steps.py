"""The named steps of pycni's ADD, in the reference bridge's order. One lesson each.

Each step takes the sockets it needs and returns what the next one uses; none of
them knows about CNI_* variables or stdin (that is skel's job).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import ip_interface, ip_network
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import Interface, IPConfig, Result, Route
from lab.cni.skel import CmdArgs
from lab.kernel import addrs, links, masquerade
from lab.kernel.links import Link, LinkNotFound
from lab.kernel.nftables import NftError
from lab.kernel.rtnl import Rtnl
from lab.kernel.sysctl import write_sysctl
from lab.pycni.conf import BridgeConf
from lab.pycni.demo import DemoLink, Step

log = logging.getLogger("pycni")
POD_INTERFACE = 2  # the pod's veth in the result's interfaces: [bridge, host veth, pod veth]
DEFAULT_V4 = ip_network("0.0.0.0/0")
DEFAULT_V6 = ip_network("::/0")


@contextmanager
def failing_to(what: str) -> Iterator[None]:
    """Turn a kernel error into a CNI error that says which step failed and why."""
    try:
        yield
    except (NetlinkError, OSError, NftError, ValueError) as e:
        reason = e.args[1] if isinstance(e, NetlinkError) and len(e.args) > 1 else str(e)
        raise CNIError(ErrorCode.INTERNAL, f"failed to {what}: {reason}") from e


def open_demo(conf: BridgeConf, args: CmdArgs) -> DemoLink:
    """The call's demo channel (a no-op unless the runtime asked for slow motion)."""
    context = {
        "command": args.command,
        "container_id": args.container_id,
        "ifname": args.ifname,
        "netns": args.netns,
        "network": conf.network,
    }
    return DemoLink(conf.demo, context)


def report(demo: DemoLink, step: Step) -> None:
    """Log a finished step and tell it as a structured event; in demo mode, pause (a
    delay, or until the runtime says "next") so a live graph can show it."""
    demo.report(step)


def check_ifname_free(cont: Rtnl, ifname: str, netns: str) -> None:
    try:
        links.link_by_name(cont, ifname)
    except LinkNotFound:
        return
    raise CNIError(
        ErrorCode.INVALID_ENV,
        f"interface {ifname!r} already exists in {netns}",
        "choose another CNI_IFNAME, or DEL the attachment that made it first",
    )


def ensure_bridge(host: Rtnl, conf: BridgeConf) -> tuple[Link, bool]:
    """The bridge, and whether this call created it (a failed ADD then removes it)."""
    with failing_to(f"set up bridge {conf.bridge!r}"):
        try:
            bridge = links.link_by_name(host, conf.bridge)
        except LinkNotFound:
            return links.ensure_bridge(host, conf.bridge, conf.mtu), True
        if bridge.kind == "bridge" and bridge.up:  # every ADD but the first: 1 request, not 4
            return bridge, False
        return links.ensure_bridge(host, conf.bridge, conf.mtu), False


def remove_unused_bridge(host: Rtnl, bridge: Link) -> None:
    """Undo of a bridge this ADD created, unless a concurrent ADD plugged a port into it."""
    if any(link.master == bridge.index for link in links.list_links(host)):
        return
    links.delete_link(host, bridge.name)


def check_host_veth_free(host: Rtnl, name: str) -> None:
    """Before the veth's undo is registered: that undo must never delete another's veth."""
    try:
        links.link_by_name(host, name)
    except LinkNotFound:
        return
    raise CNIError(
        ErrorCode.INTERNAL,
        f"host interface {name!r} already exists",
        "an earlier ADD of this container and interface was never deleted: DEL it first",
    )


def setup_veth(
    host: Rtnl,
    cont: Rtnl,
    cont_fd: int,
    conf: BridgeConf,
    names: tuple[str, str],
    alias: str,
) -> tuple[Link, Link]:
    """Make the pair with the pod's end born in the pod's namespace, and label the host end.

    The caller has registered the host end's removal already, so a failure here after the
    pair exists (the label, the lookups) leaves nothing behind.
    """
    host_name, ifname = names
    with failing_to(f"create veth {host_name!r} <-> {ifname!r}"):
        host_veth = links.create_veth_into(host, host_name, ifname, cont_fd, conf.mtu)
    with failing_to(f"label veth {host_name!r}"):
        links.set_link(host, host_veth.index, alias=alias)
        return replace(host_veth, alias=alias), links.link_by_name(cont, ifname)


def attach_veth(host: Rtnl, port: Link, bridge: Link, conf: BridgeConf) -> None:
    with failing_to(f"connect {port.name!r} to bridge {bridge.name!r}"):
        links.attach_to_bridge(host, port, bridge, hairpin=conf.hairpin_mode)


def calc_routes(result: Result, conf: BridgeConf) -> list[Route]:
    """IPAM's routes, plus a default route via the gateway when isDefaultGateway."""
    routes = list(result.routes)
    if conf.is_default_gateway:
        for ipc in result.ips:
            default = DEFAULT_V4 if ipc.address.version == 4 else DEFAULT_V6
            if ipc.gateway and not any(r.dst == default for r in routes):
                routes.append(Route(dst=default, gw=ipc.gateway))
    return routes


def configure_iface(cont: Rtnl, iface: Link, result: Result) -> None:
    """Addresses, link up, then routes (a route needs its gateway reachable first)."""
    with failing_to(f"configure {iface.name!r} in the pod"):
        for ipc in result.ips:
            addrs.add_address(cont, iface.index, ipc.address)
        links.set_link(cont, iface.index, up=True)
        for route in result.routes:
            gw = route.gw or _gateway_for(result, route.dst.version)
            addrs.add_route(cont, route.dst, gw, iface.index)


def _gateway_for(result: Result, version: int) -> Any:
    return next((i.gateway for i in result.ips if i.address.version == version and i.gateway), None)


def ensure_gateway_addr(host: Rtnl, bridge: Link, ips: list[IPConfig]) -> None:
    """The bridge holds each subnet's gateway address, so pods can route through the node."""
    with failing_to(f"give bridge {bridge.name!r} its gateway address"):
        for ipc in ips:
            if ipc.gateway is not None:
                gw = ip_interface(f"{ipc.gateway}/{ipc.address.network.prefixlen}")
                addrs.ensure_address(host, bridge.index, gw)


def enable_forwarding(ips: list[IPConfig]) -> None:
    with failing_to("enable IP forwarding"):
        if any(i.address.version == 4 for i in ips):
            write_sysctl("net.ipv4.ip_forward", "1")
        if any(i.address.version == 6 for i in ips):
            write_sysctl("net.ipv6.conf.all.forwarding", "1")


def setup_masquerade(tag: str, ips: list[IPConfig]) -> None:
    with failing_to("add the masquerade rule"):
        for ipc in ips:
            masquerade.add_masquerade(tag, ipc.address.ip, ipc.address.network)


def build_interfaces(bridge: Link, host_veth: Link, cont_veth: Link, netns: str) -> list[Interface]:
    """Like the reference bridge: [bridge, host veth, pod veth]; the pod's has a sandbox."""
    mtu = cont_veth.mtu or None
    return [
        Interface(name=bridge.name, mac=bridge.mac),
        Interface(name=host_veth.name, mac=host_veth.mac, mtu=mtu),
        Interface(name=cont_veth.name, mac=cont_veth.mac, mtu=mtu, sandbox=netns),
    ]

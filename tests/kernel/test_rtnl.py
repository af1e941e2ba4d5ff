"""lab.kernel's netlink requests: packed by hand, read back by pyroute2, done by the kernel."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import subprocess
import time
from typing import Any

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_DELLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTM_SETLINK,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from lab.kernel import addrs, links
from lab.kernel.netns import iproute_in
from lab.kernel.rtnl import Rtnl, rtnl_in
from tests.conftest import Namespaces

HEADER = struct.Struct("=IHHII")  # pyroute2 decodes a whole message: a header first


class Recorder(Rtnl):
    """An Rtnl that sends nothing: it keeps each request and answers as told."""

    def __init__(self, answer: list[bytes] | None = None) -> None:  # no socket
        self.sent: list[tuple[int, int, bytes]] = []
        self.answer = answer or []

    def request(self, msg_type: int, body: bytes, flags: int = 0) -> list[bytes]:
        self.sent.append((msg_type, flags, body))
        return self.answer

    def dump_all(self, msg_type: int, body: bytes) -> list[bytes]:
        self.sent.append((msg_type, -1, body))
        return self.answer


def read(cls: Any, body: bytes) -> Any:
    """`body` as pyroute2 decodes it."""
    msg = cls(HEADER.pack(HEADER.size + len(body), 0, 0, 0, 0) + body)
    msg.decode()
    return msg


def test_a_veth_request_reads_back_as_pyroute2_would_send_it() -> None:
    rec = Recorder()
    with pytest.raises(IndexError):  # no echo, and the read-back answers nothing
        links.create_veth_into(rec, "veth1", "eth0", 7, mtu=1400)
    msg_type, flags, body = rec.sent[0]
    assert (msg_type, flags) == (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO)
    msg = read(ifinfmsg, body)
    assert (msg.get_attr("IFLA_IFNAME"), msg.get_attr("IFLA_MTU")) == ("veth1", 1400)
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "eth0"
    assert peer.get_attr("IFLA_NET_NS_FD") == 7
    assert peer.get_attr("IFLA_MTU") == 1400


def test_link_set_and_hairpin_requests() -> None:
    rec = Recorder()
    port = links.Link(5, "veth1", "", 1500, "veth", 0, "", False)
    bridge = links.Link(3, "cni0", "", 1500, "bridge", 0, "", True)
    links.attach_to_bridge(rec, port, bridge, hairpin=True)
    (t1, _, set_body), (t2, _, hairpin_body) = rec.sent
    assert t2 == RTM_SETLINK
    msg = read(ifinfmsg, set_body)
    assert (t1, msg["index"], msg["flags"], msg["change"]) == (RTM_NEWLINK, 5, 1, 1)
    assert msg.get_attr("IFLA_MASTER") == 3
    msg = read(ifinfmsg, hairpin_body)
    assert (msg["family"], msg["index"]) == (socket.AF_BRIDGE, 5)
    assert msg.get_attr("IFLA_PROTINFO").get_attr("IFLA_BRPORT_MODE") == 1
    rec.sent.clear()
    links.set_link(rec, 5, alias="pycni: x", mtu=9000)
    msg = read(ifinfmsg, rec.sent[0][2])
    assert (msg["flags"], msg["change"]) == (0, 0)  # the state is left alone
    assert (msg.get_attr("IFLA_IFALIAS"), msg.get_attr("IFLA_MTU")) == ("pycni: x", 9000)
    rec.sent.clear()
    links.delete_link(rec, "veth1")
    assert rec.sent[0][0] == RTM_DELLINK
    assert read(ifinfmsg, rec.sent[0][2]).get_attr("IFLA_IFNAME") == "veth1"


def test_address_and_route_requests() -> None:
    rec = Recorder()
    addrs.add_address(rec, 4, ipaddress.ip_interface("10.244.0.5/24"))
    msg_type, flags, body = rec.sent[0]
    msg = read(ifaddrmsg, body)
    assert (msg_type, flags) == (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)
    assert (msg["family"], msg["prefixlen"], msg["index"]) == (socket.AF_INET, 24, 4)
    assert msg.get_attr("IFA_LOCAL") == msg.get_attr("IFA_ADDRESS") == "10.244.0.5"
    assert msg.get_attr("IFA_BROADCAST") == "10.244.0.255"
    rec.sent.clear()
    addrs.add_route(rec, ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_address("10.0.0.1"), 4)
    addrs.add_route(rec, ipaddress.ip_network("fd00::/64"), None, 4, table=1000, priority=5)
    (t1, _, default), (_, _, v6) = rec.sent
    msg = read(rtmsg, default)
    assert (t1, msg["family"], msg["dst_len"], msg["table"]) == (RTM_NEWROUTE, 2, 0, 254)
    assert (msg["proto"], msg["scope"], msg["type"]) == (4, 0, 1)  # static, universe, unicast
    assert msg.get_attr("RTA_DST") is None
    assert (msg.get_attr("RTA_GATEWAY"), msg.get_attr("RTA_OIF")) == ("10.0.0.1", 4)
    msg = read(rtmsg, v6)
    assert (msg["family"], msg["dst_len"], msg.get_attr("RTA_DST")) == (10, 64, "fd00::")
    assert (msg.get_attr("RTA_TABLE"), msg.get_attr("RTA_PRIORITY")) == (1000, 5)
    assert msg.get_attr("RTA_GATEWAY") is None


# --- the kernel's side -------------------------------------------------------------------

root = pytest.mark.root


def ip(netns: str, *argv: str) -> str:
    return subprocess.run(
        ["ip", "-n", netns, *argv], check=True, capture_output=True, text=True
    ).stdout


@root
def test_a_pod_attachment_made_link_by_link(namespaces: Namespaces) -> None:
    node, pod = namespaces.new("node"), namespaces.new("pod")
    with rtnl_in(f"/run/netns/{node}") as (host, _), rtnl_in(f"/run/netns/{pod}") as (cont, fd):
        bridge = links.ensure_bridge(host, "br0", mtu=1400)
        assert (bridge.kind, bridge.up, bridge.mtu) == ("bridge", True, 1400)
        assert links.ensure_bridge(host, "br0").index == bridge.index  # there already
        veth = links.create_veth_into(host, "veth-a", "eth0", fd, mtu=1400, alias="pycni: a")
        assert (veth.name, veth.kind, veth.mtu) == ("veth-a", "veth", 1400)
        assert links.link_by_name(host, "veth-a").alias == "pycni: a"
        links.attach_to_bridge(host, veth, bridge, hairpin=True)
        eth0 = links.link_by_name(cont, "eth0")
        assert eth0.mtu == 1400 and eth0.mac
        addrs.add_address(cont, eth0.index, ipaddress.ip_interface("10.9.0.2/24"))
        links.set_link(cont, eth0.index, up=True)
        gw = ipaddress.ip_address("10.9.0.1")
        addrs.add_route(cont, ipaddress.ip_network("0.0.0.0/0"), gw, eth0.index)
        assert ipaddress.ip_interface("10.9.0.2/24") in addrs.addresses(cont, eth0.index)
        deadline = time.monotonic() + 10  # the kernel adds the IPv6 link-local one later
        while not any(
            a.version == 6 and a.ip.is_link_local for a in addrs.addresses(cont, eth0.index)
        ):
            assert time.monotonic() < deadline, addrs.addresses(cont, eth0.index)
            time.sleep(0.05)
        assert (ipaddress.ip_network("0.0.0.0/0"), gw, eth0.index) in addrs.routes(cont)
        links.set_link(cont, links.link_by_name(cont, "lo").index, up=True)
        every = addrs.addresses(cont)  # every link's (lo's and eth0's), of both versions
        assert {"127.0.0.1/8", "10.9.0.2/24"} <= {str(a) for a in every}
        assert {a.version for a in every} == {4, 6}
        assert {str(a) for a in addrs.addresses(cont, version=4)} == {"127.0.0.1/8", "10.9.0.2/24"}
        assert {link.name for link in links.list_links(host)} == {"lo", "br0", "veth-a"}
        with pytest.raises(NetlinkError) as exists:
            links.create_veth_into(host, "veth-a", "eth9", fd)
        assert exists.value.code == errno.EEXIST and exists.value.args[1] == "File exists"
        assert links.delete_link(host, "veth-a") and not links.delete_link(host, "veth-a")
        with pytest.raises(links.LinkNotFound):
            links.link_by_name(cont, "eth0")
    assert "master br0" not in ip(node, "link")
    assert "veth-a" not in ip(node, "link")


@root
def test_hairpin_and_state_as_ip_shows_them(namespaces: Namespaces) -> None:
    node, pod = namespaces.new("node"), namespaces.new("pod")
    with rtnl_in(f"/run/netns/{node}") as (host, _), rtnl_in(f"/run/netns/{pod}") as (_, fd):
        bridge = links.ensure_bridge(host, "br0")
        veth = links.create_veth_into(host, "veth-h", "eth0", fd)
        links.attach_to_bridge(host, veth, bridge, hairpin=True)
    shown = ip(node, "-d", "link", "show", "veth-h")
    assert "master br0" in shown and "hairpin on" in shown and ",UP" in shown


@root
def test_an_iproute_of_another_namespace_works_and_nobody_moves(namespaces: Namespaces) -> None:
    """The students' plugins and the cluster's build hand these functions an IPRoute."""
    pod = namespaces.new("pod")
    home = os.stat("/proc/thread-self/ns/net").st_ino
    with iproute_in(f"/run/netns/{pod}") as (ipr, _):
        lo = links.link_by_name(ipr, "lo")
        links.set_link(ipr, lo.index, up=True)
        assert links.link_by_index(ipr, lo.index).up
        assert ipaddress.ip_interface("127.0.0.1/8") in addrs.addresses(ipr, lo.index)
        assert ipr.link("get", index=lo.index)[0].get("ifname") == "lo"  # still its own
    with IPRoute() as here:
        assert links.link_by_index(here, 1).name == "lo"
    assert os.stat("/proc/thread-self/ns/net").st_ino == home

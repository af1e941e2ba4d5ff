"""The hand decoder (lab/inspect/decode.py) against pyroute2's decoding of the same bytes:
real dumps of a real lab (after a ping, so ARP and learned FDB entries are there), and
hand-made messages for what a lab rarely holds (multipath, VLANs, other families,
truncated and malformed replies)."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE
from pyroute2.netlink.rtnl import rt_proto as RT_PROTO
from pyroute2.netlink.rtnl import rt_scope as RT_SCOPE
from pyroute2.netlink.rtnl import rt_type as RT_TYPE
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.ndmsg import NUD_PERMANENT, ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from lab.inspect import decode, read
from lab.inspect.dump import Address, FdbEntry, Interface, Neighbour, Route
from lab.inspect.namespaces import scan_netns
from lab.inspect.netlink import RouteSocket
from lab.inspect.sockets import open_sockets
from tests.inspect.conftest import Lab

# pyroute2's view of a message, as read.py built it before decode.py (the oracle)


def _attr(msg: Any, name: str, default: Any = None) -> Any:
    value = msg.get_attr(name)
    return default if value is None else value


def _ref_interface(m: Any) -> Interface:
    kind = m.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
    if not kind:
        kind = "loopback" if m["flags"] & decode.IFF_LOOPBACK else "device"
    return Interface(
        m["index"],
        _attr(m, "IFLA_IFNAME", ""),
        kind,
        _attr(m, "IFLA_ADDRESS", ""),
        _attr(m, "IFLA_MTU", 0),
        _attr(m, "IFLA_OPERSTATE", "UNKNOWN"),
        bool(m["flags"] & decode.IFF_UP),
        _attr(m, "IFLA_MASTER", 0),
        _attr(m, "IFLA_LINK", 0),
        m.get_attr("IFLA_LINK_NETNSID"),
        _attr(m, "IFLA_IFALIAS", ""),
    )


def _ref_address(m: Any) -> Address:
    ip = m.get_attr("IFA_LOCAL") or _attr(m, "IFA_ADDRESS", "")
    scope = RT_SCOPE.get(m["scope"], str(m["scope"]))
    return Address(m["index"], f"{ip}/{m['prefixlen']}", scope, _attr(m, "IFA_LABEL", ""))


def _ref_route(m: Any) -> Route:
    dst = m.get_attr("RTA_DST")
    hops = tuple(
        (h.get_attr("RTA_GATEWAY") or "", h["oif"]) for h in m.get_attr("RTA_MULTIPATH") or ()
    )
    return Route(
        f"{dst}/{m['dst_len']}" if dst else "default",
        _attr(m, "RTA_GATEWAY", ""),
        _attr(m, "RTA_OIF", 0),
        _attr(m, "RTA_PREFSRC", ""),
        RT_PROTO.get(m["proto"], str(m["proto"])),
        RT_SCOPE.get(m["scope"], str(m["scope"])),
        RT_TYPE.get(m["type"], str(m["type"])),
        _attr(m, "RTA_PRIORITY", 0),
        hops,
    )


def _ref_neighbour(m: Any) -> Neighbour:
    return Neighbour(
        m["ifindex"],
        _attr(m, "NDA_DST", ""),
        _attr(m, "NDA_LLADDR", ""),
        decode.nud_state(m["state"]),
    )


def _ref_fdb(m: Any, bridge: int) -> FdbEntry:
    return FdbEntry(
        bridge,
        m["ifindex"],
        _attr(m, "NDA_LLADDR", ""),
        m.get_attr("NDA_VLAN"),
        bool(m["state"] & NUD_PERMANENT),
        decode.nud_state(m["state"]),
    )


def _pyroute2(raw: bytes) -> Any:
    (msg,) = MarshalRtnl().parse(raw)
    return msg


# real dumps


def _routes(sock: RouteSocket) -> list[bytes]:
    try:
        return sock.dump(read._ROUTES)
    except NetlinkError as e:  # a namespace that never routed anything has no main table
        assert e.code == errno.ENOENT
        return []


@pytest.mark.root
def test_every_message_of_a_real_lab_decodes_as_pyroute2_decodes_it(lab: Lab) -> None:
    pod = next(p for p in lab.pods.values() if p.node is lab.nodes[0])
    assert " 0% packet loss" in pod.node.sh("ping", "-c1", "-W2", "10.244.0.1", netns=pod.netns)
    refs = [r for r in scan_netns().refs if r.name.startswith(lab.plan.prefix)]
    opened = open_sockets(refs)
    seen: dict[str, int] = {"link": 0, "address": 0, "route": 0, "neighbour": 0, "fdb": 0}
    try:
        for sock, _ in opened.values():
            for raw in sock.dump(read._LINKS):
                mine = decode.interface(raw)
                assert mine == _ref_interface(_pyroute2(raw))
                seen["link"] += 1
                if mine is not None and mine.kind == "bridge":
                    for fdb in sock.dump(read._fdb_request(mine.index)):
                        ref = _pyroute2(fdb)
                        if ref.get_attr("NDA_MASTER") == mine.index:
                            assert decode.fdb_entry(fdb, mine.index) == _ref_fdb(ref, mine.index)
                            seen["fdb"] += 1
                        else:  # a port's own list ("self"): not the bridge's table
                            assert decode.fdb_entry(fdb, mine.index) is None
            for raw in sock.dump(read._ADDRESSES):
                assert decode.address(raw) == _ref_address(_pyroute2(raw))
                seen["address"] += 1
            for raw in _routes(sock):
                ref = _pyroute2(raw)
                if (ref.get_attr("RTA_TABLE") or ref["table"]) == decode.MAIN_TABLE:
                    assert decode.route(raw) == _ref_route(ref)
                    seen["route"] += 1
                else:
                    assert decode.route(raw) is None
            for raw in sock.dump(read._NEIGHBOURS):
                assert decode.neighbour(raw) == _ref_neighbour(_pyroute2(raw))
                seen["neighbour"] += 1
    finally:
        for sock, nft in opened.values():
            sock.close()
            if nft is not None:
                nft.close()
    # the lab has all of these: a comparison that compared nothing would prove nothing
    assert seen["link"] >= 15 and seen["address"] >= 8 and seen["route"] >= 8, seen
    assert seen["neighbour"] >= 1 and seen["fdb"] >= 4, seen


# hand-made messages


def _encoded(msg: Any, kind: int) -> bytes:
    msg["header"]["type"] = kind
    msg.encode()
    return bytes(msg.data)


def test_a_link_with_every_decoded_attribute_and_noise_around_them() -> None:
    m = ifinfmsg()
    m["index"], m["flags"] = 7, 0x1043
    m["attrs"] = [
        ("IFLA_IFNAME", "veth7"),
        ("IFLA_TXQLEN", 1000),
        ("IFLA_ADDRESS", "0a:1b:2c:3d:4e:5f"),
        ("IFLA_MTU", 1450),
        ("IFLA_LINK", 3),
        ("IFLA_MASTER", 2),
        ("IFLA_OPERSTATE", "LOWERLAYERDOWN"),
        ("IFLA_IFALIAS", "to pod web"),
        ("IFLA_LINK_NETNSID", 5),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth")]}),
        ("IFLA_GROUP", 0),
    ]
    raw = _encoded(m, RTM_NEWLINK)
    got = decode.interface(raw)
    assert got == _ref_interface(_pyroute2(raw))
    assert got == Interface(
        7, "veth7", "veth", "0a:1b:2c:3d:4e:5f", 1450, "LOWERLAYERDOWN", True, 2, 3, 5, "to pod web"
    )
    bare = ifinfmsg()
    bare["index"], bare["flags"] = 1, decode.IFF_LOOPBACK
    assert decode.interface(_encoded(bare, RTM_NEWLINK)) == Interface(
        1, "", "loopback", "", 0, "UNKNOWN", False, 0, 0, None, ""
    )
    assert decode.interface(raw[:20]) is None  # cut inside the fixed header


def test_a_multipath_route_and_routes_it_must_skip() -> None:
    m = rtmsg()
    m["family"], m["dst_len"], m["table"], m["proto"], m["type"] = socket.AF_INET, 24, 254, 4, 1
    m["attrs"] = [
        ("RTA_DST", "10.244.3.0"),
        ("RTA_PRIORITY", 20),
        (
            "RTA_MULTIPATH",
            [
                {"oif": 2, "attrs": [("RTA_GATEWAY", "192.168.56.12")]},
                {"oif": 3, "attrs": [("RTA_GATEWAY", "192.168.57.12")]},
                {"oif": 4, "attrs": []},
            ],
        ),
    ]
    raw = _encoded(m, RTM_NEWROUTE)
    got = decode.route(raw)
    assert got == _ref_route(_pyroute2(raw))
    assert got is not None and got.nexthops == (
        ("192.168.56.12", 2),
        ("192.168.57.12", 3),
        ("", 4),
    )
    assert got.dst == "10.244.3.0/24" and got.metric == 20 and got.oif == 0
    local = rtmsg()
    local["family"], local["table"] = socket.AF_INET, 255
    assert decode.route(_encoded(local, RTM_NEWROUTE)) is None  # the local table
    big = rtmsg()
    big["family"], big["table"] = socket.AF_INET, 252
    big["attrs"] = [("RTA_TABLE", 254)]  # a table id past 255 is told in RTA_TABLE
    assert decode.route(_encoded(big, RTM_NEWROUTE)) is not None
    six = rtmsg()
    six["family"], six["table"] = socket.AF_INET6, 254
    assert decode.route(_encoded(six, RTM_NEWROUTE)) is None


def test_fdb_entries_their_vlan_and_a_port_own_list() -> None:
    m = ndmsg()
    m["family"], m["ifindex"], m["state"] = 7, 5, NUD_PERMANENT
    m["attrs"] = [("NDA_LLADDR", "02:00:00:00:00:05"), ("NDA_VLAN", 10), ("NDA_MASTER", 2)]
    raw = _encoded(m, RTM_NEWNEIGH)
    assert decode.fdb_entry(raw, 2) == _ref_fdb(_pyroute2(raw), 2)
    assert decode.fdb_entry(raw, 2) == FdbEntry(2, 5, "02:00:00:00:00:05", 10, True, "PERMANENT")
    assert decode.fdb_entry(raw, 3) is None  # another bridge's entry
    own = ndmsg()  # no master: the port's own address list
    own["family"], own["ifindex"], own["state"] = 7, 5, NUD_PERMANENT
    own["attrs"] = [("NDA_LLADDR", "33:33:00:00:00:01")]
    assert decode.fdb_entry(_encoded(own, RTM_NEWNEIGH), 2) is None
    assert decode.neighbour(raw) is None  # AF_BRIDGE is no ARP entry


def test_a_malformed_attribute_ends_the_walk_without_reading_past_the_message() -> None:
    data = b"\x08\x00\x03\x00abcd" + b"\x40\x00\x04\x00" + b"\x00" * 8
    assert decode.attributes(data, 0, len(data)) == {3: b"abcd"}
    assert decode.attributes(b"\x02\x00\x01\x00", 0, 4) == {}

"""Link notifications applied instead of a links dump (lab/inspect/links.py), on a real
namespace: each change read from its notifications must equal a full reading, and
what no notification tells (a veth end leaving, routes dropped) must be read again."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest

from lab.inspect.dump import NamespaceDump
from lab.inspect.namespaces import scan_netns
from lab.inspect.netlink import LINK_EVENTS, LINKS, NEIGHBOURS, ROUTES, Request, RouteSocket
from lab.inspect.read import read_namespace
from lab.inspect.sockets import open_sockets
from tests.conftest import Namespaces

pytestmark = pytest.mark.root


def ip(netns: str, *argv: str) -> None:
    proc = subprocess.run(
        ["ip", "-n", netns, *argv], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr


@dataclass
class Reader:
    """One namespace read as the watcher reads it: notifications, then read_namespace."""

    netns: str
    sock: RouteSocket
    dump: NamespaceDump = field(default_factory=NamespaceDump)
    dumped: list[str] = field(default_factory=list)  # what each dump since the last step read

    def step(self, *commands: tuple[str, ...]) -> NamespaceDump:
        for argv in commands:
            ip(self.netns, *argv)
        self.dumped.clear()
        self.dump = read_namespace(self.sock, None, self.sock.drain(), self.dump)
        return self.dump

    def fresh(self) -> NamespaceDump:
        """A full reading through a socket of its own (this one's notifications stay)."""
        (ref,) = [r for r in scan_netns().refs if r.name == self.netns]
        ((sock, _),) = open_sockets([ref]).values()
        try:
            return _no_noarp(read_namespace(sock))
        finally:
            sock.close()


def _no_noarp(dump: NamespaceDump) -> NamespaceDump:
    """Without the multicast neighbours the kernel makes silently (see the watch tests)."""
    return replace(dump, neighbours=tuple(n for n in dump.neighbours if n.state != "NOARP"))


@pytest.fixture
def reader(namespaces: Namespaces) -> Iterator[Reader]:
    netns = namespaces.new("links")
    ip(netns, "link", "set", "lo", "up")
    (ref,) = [r for r in scan_netns().refs if r.name == netns]
    ((sock, _),) = open_sockets([ref]).values()
    sock.listen()
    r = Reader(netns, sock)
    dump = sock.dump

    def spy(request: Request) -> list[bytes]:
        r.dumped.append(request.about or "other")
        return dump(request)

    sock.dump = spy  # type: ignore[method-assign]
    r.dump = read_namespace(sock)
    try:
        yield r
    finally:
        sock.close()


def _names(dump: NamespaceDump) -> list[str]:
    return [i.name for i in dump.interfaces]


def test_a_veth_made_renamed_and_deleted_needs_no_links_dump(reader: Reader) -> None:
    made = reader.step(("link", "add", "va", "type", "veth", "peer", "name", "vb"))
    assert sorted(_names(made)) == ["lo", "va", "vb"] and reader.dumped == []  # nothing read
    assert _no_noarp(made) == reader.fresh()

    renamed = reader.step(("link", "set", "va", "name", "vc"))
    assert sorted(_names(renamed)) == ["lo", "vb", "vc"] and reader.dumped == []
    assert _no_noarp(renamed) == reader.fresh()

    gone = reader.step(("link", "del", "vc"))
    assert _names(gone) == ["lo"] and LINKS not in reader.dumped
    assert {ROUTES, NEIGHBOURS} <= set(reader.dumped)  # read again: links went away
    assert _no_noarp(gone) == reader.fresh()


def test_a_veth_set_down_loses_its_routes_which_are_read_again(reader: Reader) -> None:
    reader.step(
        ("link", "add", "va", "type", "veth", "peer", "name", "vb"),
        ("link", "set", "vb", "up"),
        ("link", "set", "va", "up"),
        ("addr", "add", "10.9.0.1/24", "dev", "va"),
        ("route", "add", "172.31.0.0/24", "via", "10.9.0.2"),
    )
    assert "172.31.0.0/24" in [r.dst for r in reader.dump.routes]
    down = reader.step(("link", "set", "va", "down"))  # the kernel says nothing of routes
    assert LINKS not in reader.dumped and ROUTES in reader.dumped
    assert not [r for r in down.routes if r.dst in ("172.31.0.0/24", "10.9.0.0/24")]
    assert _no_noarp(down) == reader.fresh()


def test_a_port_leaving_its_bridge_keeps_its_link(reader: Reader) -> None:
    reader.step(
        ("link", "add", "br0", "type", "bridge"),
        ("link", "add", "va", "type", "veth", "peer", "name", "vb"),
        ("link", "set", "va", "master", "br0"),
    )
    bridge = next(i.index for i in reader.dump.interfaces if i.name == "br0")
    assert next(i for i in reader.dump.interfaces if i.name == "va").master == bridge
    left = reader.step(("link", "set", "va", "nomaster"))  # AF_BRIDGE RTM_DELLINK
    assert "va" in _names(left) and reader.dumped.count(LINKS) == 0
    assert next(i for i in left.interfaces if i.name == "va").master == 0
    assert _no_noarp(left) == reader.fresh()


def test_an_end_leaving_or_joining_its_peer_is_dumped_again(
    reader: Reader, namespaces: Namespaces
) -> None:
    other = namespaces.new("other")
    reader.step(("link", "add", "va", "type", "veth", "peer", "name", "vb"))
    left = reader.step(("link", "set", "vb", "netns", other))  # va's peer is elsewhere now
    assert LINKS in reader.dumped
    va = next(i for i in left.interfaces if i.name == "va")
    assert va.link_netnsid is not None
    assert _no_noarp(left) == reader.fresh()

    ip(other, "link", "set", "vb", "netns", reader.netns)
    back = reader.step()
    assert LINKS in reader.dumped
    assert next(i for i in back.interfaces if i.name == "va").link_netnsid is None
    assert _no_noarp(back) == reader.fresh()


def test_notifications_queued_before_a_links_dump_ask_for_another(reader: Reader) -> None:
    """Notifications the dump's reading meets may be older than it or newer: they are
    not applied on top of it; the links are dumped again next time."""
    reader.step(("link", "add", "va", "type", "veth", "peer", "name", "vb"))
    ip(reader.netns, "link", "set", "va", "name", "vc")  # not drained: read by the dump
    ip(reader.netns, "link", "set", "vb", "mtu", "1400")
    dumped = read_namespace(reader.sock, None, {LINKS}, reader.dump)
    assert reader.sock.take_link_messages() == []
    assert LINKS in reader.sock.drain()
    reader.dump = dumped
    assert _no_noarp(reader.step()) == reader.fresh()


def test_a_burst_of_link_changes_is_applied_in_order(reader: Reader) -> None:
    lines = [f"link add b{i} type veth peer name b{i}p" for i in range(30)]
    lines += [f"link set b{i} mtu {1300 + i}" for i in range(0, 30, 3)]
    lines += [f"link del b{i}" for i in range(1, 30, 5)]
    lines += [f"link set b{i}p name c{i}" for i in range(3, 30, 7)]
    with tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False) as batch:
        batch.write("\n".join(lines) + "\n")
    try:
        ip(reader.netns, "-batch", batch.name)
    finally:
        os.unlink(batch.name)
    kinds = reader.sock.drain()
    assert LINK_EVENTS in kinds and LINKS not in kinds
    reader.dumped.clear()
    reader.dump = read_namespace(reader.sock, None, kinds, reader.dump)
    assert LINKS not in reader.dumped
    assert len(reader.dump.interfaces) == 1 + 2 * (30 - 6)
    assert _no_noarp(reader.dump) == reader.fresh()

"""One raw NETLINK_ROUTE socket: requests encoded once by pyroute2, replies as bytes.

Requests are built by pyroute2's message classes (`ifinfmsg`, `rtmsg`, ...), once; the
replies come back as raw messages, which decode.py reads (pyroute2's decoding was most
of a snapshot's time). The framing loop is ours, so that a plain `socket.socket` can be
used: it stays in the namespace it was created in whatever thread reads it, needs one
file descriptor and no event loop (see sockets.py for why not `IPRoute`).

Replies are told apart from notifications by (sequence number, port id). A
notification is not decoded: only what it is about (links, addresses, routes, ARP
neighbours, FDB entries, by its type and family) is remembered in `RouteSocket.changes`,
so that a watcher re-reads those of the namespace, and only those. What cannot be
told (a queue overflow, a type we do not know) counts as everything.

Link notifications are the exception: a node's links dump is hundreds of messages,
and a RTM_NEWLINK carries the whole link. Those of family AF_UNSPEC are kept as
bytes (`take_link_messages`, kind LINK_EVENTS) for links.py to apply; AF_BRIDGE ones
are a bridge port's own settings, none of which a snapshot shows (their DELLINK
means a port left its bridge, not that the link is gone). One that comes while the
links are being dumped may be older or newer than the dump: it asks for another
dump (LINKS) instead.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct

from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, nlmsg
from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELNEIGH,
    RTM_DELROUTE,
    RTM_GETNSID,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
    RTNLGRP_IPV4_IFADDR,
    RTNLGRP_IPV4_ROUTE,
    RTNLGRP_LINK,
    RTNLGRP_NEIGH,
)

from lab.kernel.rtnl import (
    AF_BRIDGE,
    DUMP_ATTEMPTS,
    NETLINK_GET_STRICT_CHK,
    NLM_F_DUMP_INTR,
    NLMSG_HDRLEN,
    RECV_SIZE,
    SOL_NETLINK,
    attributes,
)

NETLINK_ADD_MEMBERSHIP = 1
RCVBUF = 1 << 20  # room for bursts of notifications (100 pods coming up at once)
REPLY_TIMEOUT_MS = 5000  # the kernel answers at once; never hang a watcher on a lost reply
GROUPS = (RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE)
LINKS, ADDRESSES, ROUTES, NEIGHBOURS, FDB = "links", "addresses", "routes", "neighbours", "fdb"
LINK_EVENTS = "link-events"  # link notifications kept to apply (LINKS: dump them again)
EVERYTHING = frozenset({LINKS, ADDRESSES, ROUTES, NEIGHBOURS, FDB})
MAX_LINK_MESSAGES = 4096  # more than that waiting: dump instead
_ABOUT = {
    RTM_NEWLINK: LINKS,
    RTM_DELLINK: LINKS,
    RTM_NEWADDR: ADDRESSES,
    RTM_DELADDR: ADDRESSES,
    RTM_NEWROUTE: ROUTES,
    RTM_DELROUTE: ROUTES,
    RTM_NEWNEIGH: NEIGHBOURS,
    RTM_DELNEIGH: NEIGHBOURS,
}
AF_UNSPEC = 0
_HEADER = struct.Struct("IHHII")  # length, type, flags, sequence number, port id
_SEQ = struct.Struct("I")
_NLA = struct.Struct("HH")  # length, type
NETNSA_NSID = 1
NETNSA_FD = 3
RTGENMSG_LEN = 4  # nsidmsg's fixed part: family and padding


def netlink_route_socket() -> socket.socket:
    """A bare rtnetlink socket in the calling thread's namespace (a single syscall)."""
    return socket.socket(
        socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
    )


class Request:
    """A request encoded once by pyroute2; only its sequence number changes per use."""

    def __init__(
        self, msg: nlmsg, msg_type: int, dump: bool = True, about: str | None = None
    ) -> None:
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
        msg.encode()
        data = bytes(msg.data)
        self._head, self._tail = data[:8], data[12:]  # around the sequence number
        self.dump = dump
        self.about = about  # what a dump reads (LINKS...), if that matters

    @classmethod
    def packed(cls, msg_type: int, body: bytes) -> Request:
        """A single (not dump) request of `msg_type` whose body is already packed."""
        request = cls.__new__(cls)
        length = _HEADER.size + len(body)
        request._head = struct.pack("IHH", length, msg_type, NLM_F_REQUEST)
        request._tail = struct.pack("I", 0) + body  # the port id: the kernel fills it in
        request.dump = False
        request.about = None
        return request

    def with_seq(self, seq: int) -> bytes:
        return self._head + _SEQ.pack(seq) + self._tail


def _nsid_request(netns_fd: int) -> Request:
    """RTM_GETNSID for the namespace open at `netns_fd`, packed by hand (pyroute2's
    encoding cost more than the kernel's answer; a watcher asks hundreds at once)."""
    fd = _NLA.pack(_NLA.size + 4, NETNSA_FD) + struct.pack("I", netns_fd)
    return Request.packed(RTM_GETNSID, bytes(RTGENMSG_LEN) + fd)


class RouteSocket:
    """Dumps and queries over one rtnetlink socket. Not thread-safe: one caller at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self._seq = 0
        self._port: int | None = None
        self.changes: set[str] = set()  # what notifications since the last drain were about
        self._links: list[bytes] = []  # AF_UNSPEC RTM_NEWLINK/DELLINK, oldest first
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._sock.fileno() == -1

    def close(self) -> None:
        self._sock.close()

    def dump(self, request: Request) -> list[bytes]:
        """Every message the kernel returns for a dump request (header included),
        retried if interrupted."""
        for _ in range(DUMP_ATTEMPTS):
            try:
                return self._exchange(request)
            except NetlinkDumpInterrupted:
                continue
        raise NetlinkDumpInterrupted()

    def get_nsid(self, netns_fd: int) -> int | None:
        """The id this namespace gives the namespace open at `netns_fd` (RTM_GETNSID).

        Read-only: None when it has given it none.
        """
        reply = self._exchange(_nsid_request(netns_fd))
        if not reply:
            return None
        value = attributes(reply[0], NLMSG_HDRLEN + RTGENMSG_LEN, len(reply[0])).get(NETNSA_NSID)
        if value is None or len(value) < 4:
            return None
        nsid = struct.unpack_from("i", value)[0]
        return nsid if nsid >= 0 else None  # NETNSA_NSID_NOT_ASSIGNED is -1

    def listen(self) -> None:
        """Join the link, neighbour (ARP and FDB), IPv4 address and route groups."""
        for group in GROUPS:
            self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)

    @property
    def events(self) -> bool:
        return bool(self.changes)

    def take_link_messages(self) -> list[bytes]:
        """The link notifications (AF_UNSPEC) received so far, oldest first; forgotten."""
        messages, self._links = self._links, []
        return messages

    def drain(self) -> frozenset[str]:
        """Read the queued notifications: what they (and those seen since the last
        drain) were about; empty if there were none."""
        while True:
            try:
                data = self._sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno != errno.ENOBUFS:  # the queue overflowed: something changed
                    raise
                self.changes |= EVERYTHING
                continue
            if not data:
                break
            offset = 0
            while offset + _HEADER.size <= len(data):
                length = _HEADER.unpack_from(data, offset)[0]
                if length < _HEADER.size:
                    break
                self._note(data, offset)
                offset += (length + 3) & ~3
        seen, self.changes = frozenset(self.changes), set()
        return seen

    def _note(self, data: bytes, offset: int, dumping: str | None = None) -> None:
        """Remember what the notification at `offset` is about (`dumping`: what the
        dump being read while it came is of)."""
        length, kind = _HEADER.unpack_from(data, offset)[:2]
        about = _ABOUT.get(kind)
        family = data[offset + _HEADER.size] if len(data) > offset + _HEADER.size else -1
        if about == NEIGHBOURS:
            about = FDB if family == AF_BRIDGE else NEIGHBOURS
        elif about == LINKS and family == AF_BRIDGE:
            return
        elif about == LINKS and family == AF_UNSPEC and dumping != LINKS:
            if len(self._links) < MAX_LINK_MESSAGES:
                self._links.append(data[offset : offset + length])
                self.changes.add(LINK_EVENTS)
                return
            self._links.clear()
        if about is None:
            self.changes |= EVERYTHING
        else:
            self.changes.add(about)

    def _exchange(self, request: Request) -> list[bytes]:
        self._seq = self._seq % 0x7FFFFFFF + 1
        seq = self._seq
        self._sock.send(request.with_seq(seq))
        if self._port is None:  # the kernel binds the socket on its first send
            self._port = self._sock.getsockname()[0]
        port = self._port
        replies: list[bytes] = []
        interrupted = False
        while True:
            if not self._poll.poll(REPLY_TIMEOUT_MS):
                raise TimeoutError(f"no netlink reply within {REPLY_TIMEOUT_MS} ms")
            try:
                data = self._sock.recv(RECV_SIZE)
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                self.changes |= EVERYTHING
                continue
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, mflags, mseq, mport = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    break
                here, offset = offset, offset + ((length + 3) & ~3)
                if mseq != seq or mport != port:
                    self._note(data, here, request.about)
                    continue
                interrupted = interrupted or bool(mflags & NLM_F_DUMP_INTR)
                if kind in (NLMSG_DONE, NLMSG_ERROR):
                    code = 0
                    if length >= _HEADER.size + 4:
                        code = -struct.unpack_from("i", data, here + _HEADER.size)[0]
                    if code:
                        raise NetlinkError(code, f"netlink request failed: {os.strerror(code)}")
                    if interrupted:
                        raise NetlinkDumpInterrupted()
                    return replies
                replies.append(data[here : here + length])
                if not request.dump:
                    return replies

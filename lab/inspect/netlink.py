"""The watcher's NETLINK_ROUTE socket: requests encoded once, replies and notifications
as bytes.

Requests are built by pyroute2's message classes (`ifinfmsg`, `rtmsg`, ...), once; the
replies come back as raw messages, which decode.py reads (pyroute2's decoding was most
of a snapshot's time). The socket and its framing loop are lab.kernel.rtnl's: a plain
`socket.socket`, which stays in the namespace it was created in whatever thread reads
it, needs one file descriptor and no event loop (see sockets.py for why not `IPRoute`).

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

import socket
import struct

from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, nlmsg
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
    NLMSG_HDRLEN,
    SOL_NETLINK,
    Rtnl,
    attributes,
    netlink_socket,
    retried,
    u32,
)

NETLINK_ADD_MEMBERSHIP = 1
RCVBUF = 1 << 20  # room for bursts of notifications (100 pods coming up at once)
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
_HEAD = struct.Struct("=IHH")  # length, type, flags: what precedes the sequence number
_SEQ = struct.Struct("=I")
NETNSA_NSID = 1
NETNSA_FD = 3
RTGENMSG_LEN = 4  # nsidmsg's fixed part: family and padding


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
        request._head = _HEAD.pack(NLMSG_HDRLEN + len(body), msg_type, NLM_F_REQUEST)
        request._tail = _SEQ.pack(0) + body  # the port id: the kernel fills it in
        request.dump = False
        request.about = None
        return request

    def with_seq(self, seq: int) -> bytes:
        return self._head + _SEQ.pack(seq) + self._tail


def _nsid_request(netns_fd: int) -> Request:
    """RTM_GETNSID for the namespace open at `netns_fd`, packed by hand (pyroute2's
    encoding cost more than the kernel's answer; a watcher asks hundreds at once)."""
    return Request.packed(RTM_GETNSID, bytes(RTGENMSG_LEN) + u32(NETNSA_FD, netns_fd))


class RouteSocket(Rtnl):
    """Dumps and queries over one rtnetlink socket, and the notifications it hears.
    Not thread-safe: one caller at a time."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._dumping: str | None = None  # what the dump being read is of
        self.changes: set[str] = set()  # what notifications since the last drain were about
        self._links: list[bytes] = []  # AF_UNSPEC RTM_NEWLINK/DELLINK, oldest first
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)

    @classmethod
    def open(cls) -> RouteSocket:
        return cls(netlink_socket())

    def dump(self, request: Request) -> list[bytes]:
        """Every message the kernel returns for a dump request (header included),
        retried if interrupted."""
        return retried(lambda: self._exchange(request))

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
        for data in self.queued():
            offset = 0
            while offset + NLMSG_HDRLEN <= len(data):
                length = _HEAD.unpack_from(data, offset)[0]
                if length < NLMSG_HDRLEN:
                    break
                self._note(data, offset)
                offset += (length + 3) & ~3
        seen, self.changes = frozenset(self.changes), set()
        return seen

    def _unsolicited(self, data: bytes, offset: int) -> None:
        self._note(data, offset, self._dumping)

    def _overflowed(self) -> None:
        self.changes |= EVERYTHING

    def _note(self, data: bytes, offset: int, dumping: str | None = None) -> None:
        """Remember what the notification at `offset` is about (`dumping`: what the
        dump being read while it came is of)."""
        length, kind = _HEAD.unpack_from(data, offset)[:2]
        about = _ABOUT.get(kind)
        family = data[offset + NLMSG_HDRLEN] if len(data) > offset + NLMSG_HDRLEN else -1
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
        seq = self.next_seq()
        self._dumping = request.about
        try:
            return self.roundtrip(request.with_seq(seq), seq, until_done=request.dump)
        finally:
            self._dumping = None

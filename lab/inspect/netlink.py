"""One raw NETLINK_ROUTE socket, spoken to with pyroute2's message classes.

Requests are built and replies decoded by pyroute2 (`ifinfmsg`, `rtmsg`, ... and
`MarshalRtnl`); only the framing loop is ours, so that a plain `socket.socket` can be
used: it stays in the namespace it was created in whatever thread reads it, needs one
file descriptor and no event loop (see sockets.py for why not `IPRoute`).

Replies are told apart from notifications by (sequence number, port id). A
notification that arrives in the middle of a dump is not decoded, only remembered in
`RouteSocket.events`, so that a watcher re-reads the namespace.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
from collections.abc import Callable, Iterable

from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, nlmsg
from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_GETNSID,
    RTNLGRP_IPV4_IFADDR,
    RTNLGRP_IPV4_ROUTE,
    RTNLGRP_LINK,
    RTNLGRP_NEIGH,
)
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_GET_STRICT_CHK = 12  # let the kernel filter dumps (route table, fdb master)
NLM_F_DUMP_INTR = 0x10
RECV_SIZE = 1 << 16
RCVBUF = 1 << 20  # room for bursts of notifications (100 pods coming up at once)
REPLY_TIMEOUT_MS = 5000  # the kernel answers at once; never hang a watcher on a lost reply
DUMP_ATTEMPTS = 5  # like netlinksafe: a dump raced by a change is retried, a few times
GROUPS = (RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE)
_HEADER = struct.Struct("IHHII")  # length, type, flags, sequence number, port id
_SEQ = struct.Struct("I")
_NLA = struct.Struct("HH")  # length, type
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER


def netlink_route_socket() -> socket.socket:
    """A bare rtnetlink socket in the calling thread's namespace (a single syscall)."""
    return socket.socket(
        socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
    )


class Request:
    """A request encoded once by pyroute2; only its sequence number changes per use.

    `keep`, when given, names the attribute types worth decoding: the others are cut
    out of each reply before pyroute2 decodes it (a link carries ~45 attributes and
    decoding them all is most of the time a dump takes). `skip(data, offset)` may
    drop whole replies unread, by their fixed header.
    """

    def __init__(
        self,
        msg: nlmsg,
        msg_type: int,
        dump: bool = True,
        keep: Iterable[int] | None = None,
        skip: Callable[[bytes, int], bool] | None = None,
    ) -> None:
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
        msg.encode()
        data = bytes(msg.data)
        self._head, self._tail = data[:8], data[12:]  # around the sequence number
        self.dump = dump
        self._fixed = _HEADER.size + msg.get_size() if keep is not None else 0
        self._keep = frozenset(keep) if keep is not None else None
        self.skip = skip

    def with_seq(self, seq: int) -> bytes:
        return self._head + _SEQ.pack(seq) + self._tail

    def trim(self, data: bytes, offset: int, length: int) -> bytes:
        """One reply, without the attributes this request does not decode."""
        if self._keep is None:
            return data[offset : offset + length]
        start = (offset + self._fixed + 3) & ~3
        parts = [data[offset + _HEADER.size : start]]
        pos, end = start, offset + length
        while pos + _NLA.size <= end:
            nla_len, nla_type = _NLA.unpack_from(data, pos)
            if nla_len < _NLA.size:
                break
            step = (nla_len + 3) & ~3
            if nla_type & NLA_TYPE_MASK in self._keep:
                parts.append(data[pos : pos + step])
            pos += step
        body = b"".join(parts)
        _, kind, flags, seq, port = _HEADER.unpack_from(data, offset)
        return _HEADER.pack(_HEADER.size + len(body), kind, flags, seq, port) + body


class RouteSocket:
    """Dumps and queries over one rtnetlink socket. Not thread-safe: one caller at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self._marshal = MarshalRtnl()
        self._seq = 0
        self.events = False  # a notification was seen (and skipped) since the last drain
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._sock.fileno() == -1

    def close(self) -> None:
        self._sock.close()

    def dump(self, request: Request) -> list[nlmsg]:
        """Every object the kernel returns for a dump request, retried if interrupted."""
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
        msg = nsidmsg()
        msg["attrs"] = [("NETNSA_FD", netns_fd)]
        reply = self._exchange(Request(msg, RTM_GETNSID, dump=False))
        nsid = reply[0].get_attr("NETNSA_NSID") if reply else None
        if nsid is None or nsid >= 0x80000000:  # NETNSA_NSID_NOT_ASSIGNED is -1
            return None
        return nsid

    def listen(self) -> None:
        """Join the link, neighbour (ARP and FDB), IPv4 address and route groups."""
        for group in GROUPS:
            self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)

    def drain(self) -> bool:
        """Discard queued notifications; True if there were any since the last drain."""
        seen, self.events = self.events, False
        while True:
            try:
                if not self._sock.recv(RECV_SIZE, socket.MSG_DONTWAIT):
                    return seen
            except BlockingIOError:
                return seen
            except OSError as e:
                if e.errno != errno.ENOBUFS:  # the queue overflowed: something changed
                    raise
            seen = True

    def _exchange(self, request: Request) -> list[nlmsg]:
        self._seq = self._seq % 0x7FFFFFFF + 1
        seq = self._seq
        self._sock.send(request.with_seq(seq))
        port = self._sock.getsockname()[0]
        replies: list[nlmsg] = []
        interrupted = False
        while True:
            if not self._poll.poll(REPLY_TIMEOUT_MS):
                raise TimeoutError(f"no netlink reply within {REPLY_TIMEOUT_MS} ms")
            try:
                data = self._sock.recv(RECV_SIZE)
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                self.events = True
                continue
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, mflags, mseq, mport = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    break
                here, offset = offset, offset + ((length + 3) & ~3)
                if mseq != seq or mport != port:
                    self.events = True
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
                if request.skip is not None and request.skip(data, here):
                    continue
                raw = request.trim(data, here, length)
                replies.extend(self._marshal.parse(raw))
                if not request.dump:
                    return replies

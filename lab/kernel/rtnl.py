"""pycni's netlink request socket: messages packed by hand, replies read as bytes.

pyroute2's IPRoute costs ~0.7 ms of CPU per request (an asyncio loop turn, request
filters, encoding and decoding every attribute), and building one of its messages
alone takes 0.1-0.4 ms. A pycni ADD makes about ten requests, so here a request is
a few `struct.pack` calls, one send and one framing loop, and the replies stay bytes
for the few fields a caller reads. tests/kernel/test_rtnl.py has pyroute2 decode
every request packed here.

Every request but a dump asks for an acknowledgement (NLM_F_ACK), so a write returns
only when the kernel has done it, and a failure is a NetlinkError with its errno
(callers match errno.EEXIST, errno.ENODEV), worded as pyroute2 words it.

This is the one framing loop: the watcher's long-lived sockets, which also hear
notifications, are Rtnls whose `_unsolicited` and `_overflowed` note what the kernel
announced (lab.inspect.netlink's RouteSocket, lab.inspect.nft's NetfilterSocket).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, TypeAlias

from pyroute2.netlink import (
    NLA_F_NESTED,
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
)
from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError

from lab.kernel.netns import run_in_netns, socket_in

if TYPE_CHECKING:
    from pyroute2 import IPRoute

Netlink: TypeAlias = "Rtnl | IPRoute"

NLMSG_HDRLEN = 16
AF_BRIDGE = 7  # a bridge's own messages: FDB entries, port settings
NLM_F_DUMP_INTR = 0x10
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12  # the kernel filters dumps by the header's fields
RECV_SIZE = 1 << 16
REPLY_TIMEOUT_MS = 5000  # the kernel answers at once, but never hang on a lost reply
DUMP_ATTEMPTS = 5  # like netlinksafe: a dump raced by a change is retried, a few times
SIOCGSKNS = 0x894C  # the network namespace a socket lives in, as a new fd
_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence number, port id
_ERRNO = struct.Struct("=i")
_NLA = struct.Struct("=HH")
IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type
_U32 = struct.Struct("=I")


def netlink_socket(protocol: int = socket.NETLINK_ROUTE) -> socket.socket:
    """A bare netlink socket, of the calling thread's namespace for its lifetime."""
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)


class Rtnl:
    """One netlink socket of the namespace it was opened in (NETLINK_ROUTE unless made of
    another protocol's socket: lab.inspect.nft's is NETLINK_NETFILTER). One caller at a
    time."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        sock.bind((0, 0))  # the kernel picks our port id now, to tell our replies
        self._sock = sock
        self._port = sock.getsockname()[0]
        self._seq = 0
        # Blocking, and polled for each reply: a socket timeout would make every recv
        # wait, the non-blocking reads of queued notifications included.
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)

    @classmethod
    def open(cls) -> Rtnl:
        """A socket in the calling thread's namespace (one syscall, no event loop)."""
        return cls(netlink_socket())

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._sock.fileno() == -1

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, msg_type: int, body: bytes, flags: int = 0) -> list[bytes]:
        """One acknowledged request: the messages answered before the ACK (an echo, a
        get's link)."""
        return self.exchange(msg_type, NLM_F_ACK | flags, body)

    def dump_all(self, msg_type: int, body: bytes) -> list[bytes]:
        """Every message of a dump, retried when a change raced it (NLM_F_DUMP_INTR)."""
        return retried(lambda: self.exchange(msg_type, NLM_F_DUMP, body))

    def exchange(self, msg_type: int, flags: int, body: bytes) -> list[bytes]:
        """Send one message; every reply (header included) until NLMSG_DONE or NLMSG_ERROR.

        A request without NLM_F_ACK or NLM_F_DUMP gets neither: its first reply ends it.
        """
        seq = self.next_seq()
        header = _HEADER.pack(NLMSG_HDRLEN + len(body), msg_type, NLM_F_REQUEST | flags, seq, 0)
        return self.roundtrip(header + body, seq, bool(flags & (NLM_F_ACK | NLM_F_DUMP)))

    def next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def roundtrip(self, message: bytes, seq: int, until_done: bool) -> list[bytes]:
        """Send `message` (sequence number `seq`); its replies: up to NLMSG_DONE or
        NLMSG_ERROR when `until_done`, else the first. Messages that answer nothing of
        ours go to `_unsolicited`."""
        self._sock.send(message)
        replies: list[bytes] = []
        interrupted = False
        while True:
            data = self._receive()
            offset = 0
            while offset + NLMSG_HDRLEN <= len(data):
                length, kind, mflags, mseq, mport = _HEADER.unpack_from(data, offset)
                if length < NLMSG_HDRLEN:
                    break
                here, offset = offset, offset + ((length + 3) & ~3)
                if mseq != seq or mport != self._port:
                    self._unsolicited(data, here)
                    continue
                interrupted = interrupted or bool(mflags & NLM_F_DUMP_INTR)
                if kind in (NLMSG_DONE, NLMSG_ERROR):
                    code = 0
                    if length >= NLMSG_HDRLEN + _ERRNO.size:
                        code = -_ERRNO.unpack_from(data, here + NLMSG_HDRLEN)[0]
                    if code:
                        raise NetlinkError(code)
                    if interrupted:
                        raise NetlinkDumpInterrupted()
                    return replies
                replies.append(data[here : here + length])
                if not until_done:
                    return replies

    def _receive(self) -> bytes:
        while True:
            if not self._poll.poll(REPLY_TIMEOUT_MS):
                raise TimeoutError(f"no netlink reply within {REPLY_TIMEOUT_MS} ms")
            try:
                return self._sock.recv(RECV_SIZE)
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                self._overflowed()

    def queued(self) -> Iterator[bytes]:
        """The datagrams waiting on the socket (notifications), without waiting for more."""
        while True:
            try:
                data = self._sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                self._overflowed()
                continue
            if not data:
                return
            yield data

    def _unsolicited(self, data: bytes, offset: int) -> None:
        """A message at `offset` that answers no request of ours: a notification (on a
        socket that joined groups), or a stale reply."""

    def _overflowed(self) -> None:
        """The socket's queue overflowed (ENOBUFS) and notifications were lost; only a
        socket that joined groups gets them, so a request socket never does."""
        raise OSError(errno.ENOBUFS, os.strerror(errno.ENOBUFS))


def retried(dump: Callable[[], list[bytes]]) -> list[bytes]:
    """`dump()`, again when a change raced it (NLM_F_DUMP_INTR), a few times."""
    for _ in range(DUMP_ATTEMPTS):
        try:
            return dump()
        except NetlinkDumpInterrupted:
            continue
    raise NetlinkDumpInterrupted()


def each_attribute(data: bytes, start: int, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(type, value) of each attribute from `start` to `end`, in order (a nested list's
    elements share one type)."""
    pos, end = start, len(data) if end is None else end
    while pos + _NLA.size <= end:
        length, kind = _NLA.unpack_from(data, pos)
        if length < _NLA.size or pos + length > end:
            return
        yield kind & NLA_TYPE_MASK, data[pos + _NLA.size : pos + length]
        pos += (length + 3) & ~3


def attributes(data: bytes, start: int, end: int | None = None) -> dict[int, bytes]:
    """Attribute type -> its value (the last one wins), from `start` to `end`."""
    return dict(each_attribute(data, start, end))


def nla(kind: int, value: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    length = _NLA.size + len(value)
    return _NLA.pack(length, kind) + value + bytes(-length % 4)


def nest(kind: int, *attrs: bytes) -> bytes:
    return nla(kind | NLA_F_NESTED, b"".join(attrs))


def text(kind: int, value: str) -> bytes:
    return nla(kind, value.encode() + b"\0")


def u32(kind: int, value: int) -> bytes:
    return nla(kind, _U32.pack(value))


def as_text(value: bytes | None) -> str:
    return value.split(b"\0", 1)[0].decode(errors="replace") if value else ""


def as_u32(value: bytes | None, default: int = 0) -> int:
    return _U32.unpack_from(value)[0] if value and len(value) >= _U32.size else default


def ifinfo(
    *attrs: bytes, index: int = 0, flags: int = 0, change: int = 0, family: int = 0
) -> bytes:
    """struct ifinfomsg, then its attributes."""
    return IFINFO.pack(family, 0, index, flags, change) + b"".join(attrs)


def ifaddr(family: int, prefixlen: int, index: int, *attrs: bytes) -> bytes:
    """struct ifaddrmsg (scope universe), then its attributes."""
    return IFADDR.pack(family, prefixlen, 0, 0, index) + b"".join(attrs)


def rtmsg(
    family: int, dst_len: int, *attrs: bytes, table: int = 0, proto: int = 0, kind: int = 0
) -> bytes:
    """struct rtmsg (scope universe), then its attributes."""
    return RTMSG.pack(family, dst_len, 0, 0, table, proto, 0, kind, 0) + b"".join(attrs)


def rtnl_in(path: str) -> AbstractContextManager[tuple[Rtnl, int]]:
    """An Rtnl living in `path`'s namespace, plus an fd of that namespace."""
    return socket_in(path, Rtnl.open)


@contextmanager
def using(sock: Netlink) -> Iterator[Rtnl]:
    """`sock` itself, or, for a pyroute2 IPRoute (a student's plugin, the cluster's
    build), an Rtnl in the IPRoute's namespace for one operation: so the operations
    of links.py and addrs.py have one definition, on Rtnl."""
    if isinstance(sock, Rtnl):
        yield sock
        return
    with _beside(sock) as ours:
        yield ours


def _beside(ipr: IPRoute) -> Rtnl:
    """A new Rtnl in the namespace of `ipr`'s socket (SIOCGSKNS), made by a throw-away
    thread when that is not the caller's: no thread of a server ever moves."""
    netns = fcntl.ioctl(ipr.fileno(), SIOCGSKNS)
    try:
        here, there = os.stat("/proc/thread-self/ns/net"), os.fstat(netns)
        if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino):
            return Rtnl.open()
        return run_in_netns(f"/proc/self/fd/{netns}", Rtnl.open)
    finally:
        os.close(netns)

"""One packet socket per namespace, sniffing every interface there, both directions.

Each AF_PACKET socket is created by a throw-away thread inside its namespace
(`run_in_netns`), so the caller never changes namespace; a socket keeps the namespace
it was born in. Kernel timestamps (SO_TIMESTAMPNS) order the frames across sockets.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

from lab.kernel.netns import NETNS_RUN_DIR, run_in_netns

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESPEC = struct.Struct("qq")
SNAPLEN = 256  # headers are all we read


@dataclass(frozen=True)
class Frame:
    netns: str
    ifname: str
    outgoing: bool
    time: float  # kernel timestamp, seconds
    data: bytes


def netns_path(netns: str) -> str:
    """A name under /run/netns, or already a path (an agent serving its host's own
    namespace passes /proc/self/ns/net, which has no name there)."""
    return netns if netns.startswith("/") else f"{NETNS_RUN_DIR}/{netns}"


def _packet_socket() -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    return sock


class Sniffers:
    """Packet sockets in many namespaces, read together from the caller's thread.

    They are waited on with poll(), not select(): a server with more than 1024 open
    descriptors (many clients) still traces."""

    def __init__(self, namespaces: list[str]) -> None:
        self.by_fd: dict[int, tuple[str, socket.socket]] = {}
        self._poll = select.poll()
        try:
            for ns in namespaces:
                sock = run_in_netns(netns_path(ns), _packet_socket)
                self.by_fd[sock.fileno()] = (ns, sock)
                self._poll.register(sock.fileno(), select.POLLIN)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Sniffers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every socket, at once: the kernel waits an RCU grace period (~12 ms)
        in each packet socket's release, and concurrent closes share one."""
        for fd in self.by_fd:
            self._poll.unregister(fd)
        socks = [sock for _, sock in self.by_fd.values()]
        self.by_fd.clear()
        closers = [threading.Thread(target=sock.close, daemon=True) for sock in socks[1:]]
        for closer in closers:
            closer.start()
        for sock in socks[:1]:
            sock.close()
        for closer in closers:
            closer.join()

    def drain(self) -> None:
        """Forget what was queued before the probe leaves."""
        while self.read(0.0):
            pass

    def read(self, timeout: float) -> list[Frame]:
        ready = [fd for fd, _ in self._poll.poll(max(timeout, 0.0) * 1000)]
        frames = []
        for fd in ready:
            ns, sock = self.by_fd[fd]
            while True:
                try:
                    data, ancdata, _, addr = sock.recvmsg(SNAPLEN, socket.CMSG_SPACE(TIMESPEC.size))
                except BlockingIOError:
                    break
                stamp = time.time()
                for level, kind, raw in ancdata:
                    if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                        sec, nsec = TIMESPEC.unpack(raw[: TIMESPEC.size])
                        stamp = sec + nsec / 1e9
                # addr = (ifname, proto, pkttype, hatype, mac); the name is resolved by the
                # kernel through this socket, hence in the socket's own namespace
                frames.append(Frame(ns, addr[0], addr[2] == PACKET_OUTGOING, stamp, data))
        return frames

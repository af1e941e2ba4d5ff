"""The probe: one marked packet sent from the source pod's namespace by its kernel.

The sockets are made inside the pod's namespace by a throw-away thread, so the probe
is routed, ARPed and NATed exactly like the pod's own traffic. scapy builds the ICMP
echo; UDP and TCP use plain sockets (the kernel writes the TCP SYN). Every probe
carries a marker the tracer follows through NAT: a random token in the payload
(ICMP, UDP), or the SYN's source port and sequence number (TCP).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from lab.kernel.netns import run_in_netns
from lab.trace.capture import netns_path
from lab.trace.layers import ICMP, Raw

PROTOCOLS = ("icmp", "tcp", "udp")
MARK = b"cnilab-trace:"
MAX_TOKEN = 64
# What the pod's own kernel answers when it will not send the packet at all: no route,
# an unreachable or prohibit route, a neighbour that failed, a firewall's drop on output.
# The trace reports that as a probe that never left; any other error is a real fault.
REFUSED = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM, errno.EINVAL}
)


def _int_in(d: dict[str, Any], key: str, low: int, high: int) -> int:
    value = d.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{key!r} must be a number from {low} to {high}")
    return value


@dataclass
class Probe:
    proto: str
    dst: str
    port: int = 0
    token: bytes = field(default_factory=lambda: MARK + secrets.token_hex(8).encode())
    sport: int = field(default_factory=lambda: random.randint(40000, 60999))
    ident: int = field(default_factory=lambda: random.randint(1, 0xFFFF))
    tcp_seq: int | None = None  # learnt from the SYN the kernel sends
    sent_at: float = 0.0  # wall clock, like the kernel's packet timestamps
    refused: str = ""  # why the pod's kernel would not send it, if it would not
    _socks: list[socket.socket] = field(default_factory=list)

    def marker(self) -> dict[str, Any]:
        """What another process needs to know this probe's frames (a node agent's sniffers)."""
        return {
            "proto": self.proto,
            "dst": self.dst,
            "port": self.port,
            "token": self.token.decode(),
            "sport": self.sport,
            "ident": self.ident,
        }

    @classmethod
    def from_marker(cls, d: Any) -> Probe:
        """The probe a marker describes; ValueError says which field is wrong."""
        if not isinstance(d, dict):
            raise ValueError("the probe must be a JSON object")
        if d.get("proto") not in PROTOCOLS:
            raise ValueError(f"'proto' must be one of {', '.join(PROTOCOLS)}")
        try:
            dst = str(ipaddress.IPv4Address(d.get("dst")))
        except ValueError:
            raise ValueError("'dst' must be an IPv4 address") from None
        token = d.get("token")
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN:
            raise ValueError(f"'token' must be ASCII text of at most {MAX_TOKEN} characters")
        if not token.encode().startswith(MARK):
            raise ValueError(f"'token' must start with {MARK.decode()!r}")
        return cls(
            d["proto"],
            dst,
            _int_in(d, "port", 0, 65535),
            token=token.encode(),
            sport=_int_in(d, "sport", 1, 65535),
            ident=_int_in(d, "ident", 0, 0xFFFF),
        )

    def send(self, netns: str) -> None:
        path = netns_path(netns)
        if self.proto == "icmp":
            sock = run_in_netns(path, lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1))
            self._socks.append(sock)
            echo = bytes(ICMP(type=8, id=self.ident, seq=1) / Raw(self.token))
            self._sendto(sock, echo, 0)
        elif self.proto == "udp":
            sock = run_in_netns(path, lambda: self._bound(socket.SOCK_DGRAM))
            self._socks.append(sock)
            self._sendto(sock, self.token, self.port)
        else:
            sock = run_in_netns(path, lambda: self._bound(socket.SOCK_STREAM))
            self._socks.append(sock)
            sock.setblocking(False)
            self.sent_at = time.time()
            code = sock.connect_ex((self.dst, self.port))  # the kernel sends the SYN
            if code in REFUSED:
                self.refused = os.strerror(code)

    def _sendto(self, sock: socket.socket, payload: bytes, port: int) -> None:
        self.sent_at = time.time()
        try:
            sock.sendto(payload, (self.dst, port))
        except OSError as e:
            if e.errno not in REFUSED:
                raise
            self.refused = e.strerror or str(e)

    def _bound(self, kind: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", self.sport))
        return sock

    def close(self) -> None:
        for sock in self._socks:
            sock.close()
        self._socks.clear()

"""The masquerade rules of a namespace, read over a netfilter netlink socket.

The graph marks a node's way out with the rules that masquerade there (the cluster's
"pods leaving the pod network", pycni's per-pod ones). `nft list ruleset` would fork
a process per read and say nothing when a rule changes; a NETLINK_NETFILTER socket
made in the namespace (like the route sockets, see sockets.py) dumps the rules in one
request and, joined to the nftables group, wakes the watcher when a rule comes or
goes. Only what the picture needs is decoded: each rule's family, table, chain,
handle, comment and whether one of its expressions is `masq`.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
from dataclasses import dataclass

MASQUERADE = "masquerade"  # what a notification on this socket is about, for a watcher
NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NFNLGRP_NFTABLES = 7
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETRULE = 7
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF
NFTA_RULE_TABLE = 1
NFTA_RULE_CHAIN = 2
NFTA_RULE_HANDLE = 3
NFTA_RULE_EXPRESSIONS = 4
NFTA_RULE_USERDATA = 7
NFTA_EXPR_NAME = 1
NFTNL_UDATA_RULE_COMMENT = 0
RECV_SIZE = 1 << 16
REPLY_TIMEOUT_MS = 5000
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
_HEADER = struct.Struct("IHHII")
_NFGEN = struct.Struct("BBH")  # family, version, resource id
_NLA = struct.Struct("HH")


@dataclass(frozen=True)
class MasqueradeRule:
    family: str  # ip, inet, ...
    table: str
    chain: str
    handle: int
    comment: str


def netfilter_socket() -> socket.socket:
    """A bare netfilter netlink socket in the calling thread's namespace."""
    return socket.socket(
        socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_NETFILTER
    )


def _attrs(data: bytes, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Attribute type -> (value start, value end); the last one wins."""
    out: dict[int, tuple[int, int]] = {}
    pos = start
    while pos + _NLA.size <= end:
        length, kind = _NLA.unpack_from(data, pos)
        if length < _NLA.size or pos + length > end:
            break
        out[kind & NLA_TYPE_MASK] = (pos + _NLA.size, pos + length)
        pos += (length + 3) & ~3
    return out


def _string(data: bytes, span: tuple[int, int] | None) -> str:
    if span is None:
        return ""
    return data[span[0] : span[1]].split(b"\0", 1)[0].decode(errors="replace")


def _expression_names(data: bytes, span: tuple[int, int]) -> list[str]:
    names = []
    pos, end = span
    while pos + _NLA.size <= end:
        length, _ = _NLA.unpack_from(data, pos)
        if length < _NLA.size or pos + length > end:
            break
        names.append(_string(data, _attrs(data, pos + _NLA.size, pos + length).get(NFTA_EXPR_NAME)))
        pos += (length + 3) & ~3
    return names


def _comment(data: bytes, span: tuple[int, int] | None) -> str:
    """The comment in a rule's user data (nftables' TLVs: type, length, value)."""
    if span is None:
        return ""
    pos, end = span
    while pos + 2 <= end:
        kind, length = data[pos], data[pos + 1]
        if kind == NFTNL_UDATA_RULE_COMMENT:
            return data[pos + 2 : pos + 2 + length].split(b"\0", 1)[0].decode(errors="replace")
        pos += 2 + length
    return ""


def decode_rule(data: bytes, offset: int, length: int) -> MasqueradeRule | None:
    """One NFT_MSG_NEWRULE message: the rule, if it masquerades."""
    family = data[offset + _HEADER.size]
    attrs = _attrs(data, offset + _HEADER.size + _NFGEN.size, offset + length)
    exprs = attrs.get(NFTA_RULE_EXPRESSIONS)
    if exprs is None or "masq" not in _expression_names(data, exprs):
        return None
    handle = attrs.get(NFTA_RULE_HANDLE)
    return MasqueradeRule(
        family=FAMILIES.get(family, str(family)),
        table=_string(data, attrs.get(NFTA_RULE_TABLE)),
        chain=_string(data, attrs.get(NFTA_RULE_CHAIN)),
        handle=struct.unpack_from(">Q", data, handle[0])[0] if handle else 0,
        comment=_comment(data, attrs.get(NFTA_RULE_USERDATA)),
    )


class NetfilterSocket:
    """Rule dumps over one netfilter socket. Not thread-safe: one caller at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self._seq = 0
        self.events = False

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def listen(self) -> None:
        self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)

    def drain(self) -> bool:
        seen, self.events = self.events, False
        while True:
            try:
                if not self._sock.recv(RECV_SIZE, socket.MSG_DONTWAIT):
                    return seen
            except BlockingIOError:
                return seen
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
            seen = True

    def masquerade_rules(self) -> tuple[MasqueradeRule, ...]:
        """Every rule of every table that has a `masq` expression."""
        self._seq = self._seq % 0x7FFFFFFF + 1
        seq = self._seq
        kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE
        body = _NFGEN.pack(socket.AF_UNSPEC, 0, 0)
        self._sock.send(
            _HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
        )
        port = self._sock.getsockname()[0]
        rules: list[MasqueradeRule] = []
        while True:
            if not self._poll.poll(REPLY_TIMEOUT_MS):
                raise TimeoutError(f"no netfilter reply within {REPLY_TIMEOUT_MS} ms")
            data = self._sock.recv(RECV_SIZE)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, mtype, _, mseq, mport = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    break
                here, offset = offset, offset + ((length + 3) & ~3)
                if mseq != seq or mport != port:
                    self.events = True
                    continue
                if mtype in (NLMSG_DONE, NLMSG_ERROR):
                    code = 0
                    if length >= _HEADER.size + 4:
                        code = -struct.unpack_from("i", data, here + _HEADER.size)[0]
                    if code:
                        raise OSError(code, f"netfilter dump failed: {os.strerror(code)}")
                    return tuple(rules)
                rule = decode_rule(data, here, length)
                if rule is not None:
                    rules.append(rule)

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

import socket
import struct
from dataclasses import dataclass

from lab.kernel.rtnl import (
    NLMSG_HDRLEN,
    SOL_NETLINK,
    Rtnl,
    as_text,
    attributes,
    each_attribute,
)

MASQUERADE = "masquerade"  # what a notification on this socket is about, for a watcher
NETLINK_NETFILTER = 12
NETLINK_ADD_MEMBERSHIP = 1
NFNLGRP_NFTABLES = 7
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETRULE = 7
NFTA_RULE_TABLE = 1
NFTA_RULE_CHAIN = 2
NFTA_RULE_HANDLE = 3
NFTA_RULE_EXPRESSIONS = 4
NFTA_RULE_USERDATA = 7
NFTA_EXPR_NAME = 1
NFTNL_UDATA_RULE_COMMENT = 0
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
_NFGEN = struct.Struct("=BBH")  # family, version, resource id
_U64_BE = struct.Struct(">Q")


@dataclass(frozen=True)
class MasqueradeRule:
    family: str  # ip, inet, ...
    table: str
    chain: str
    handle: int
    comment: str


def _expression_names(exprs: bytes) -> list[str]:
    return [
        as_text(attributes(elem, 0).get(NFTA_EXPR_NAME)) for _, elem in each_attribute(exprs, 0)
    ]


def _comment(udata: bytes | None) -> str:
    """The comment in a rule's user data (nftables' TLVs: type, length, value)."""
    if udata is None:
        return ""
    pos = 0
    while pos + 2 <= len(udata):
        kind, length = udata[pos], udata[pos + 1]
        if kind == NFTNL_UDATA_RULE_COMMENT:
            return as_text(udata[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return ""


def decode_rule(data: bytes, offset: int, length: int) -> MasqueradeRule | None:
    """One NFT_MSG_NEWRULE message: the rule, if it masquerades."""
    family = data[offset + NLMSG_HDRLEN]
    attrs = attributes(data, offset + NLMSG_HDRLEN + _NFGEN.size, offset + length)
    exprs = attrs.get(NFTA_RULE_EXPRESSIONS)
    if exprs is None or "masq" not in _expression_names(exprs):
        return None
    handle = attrs.get(NFTA_RULE_HANDLE)
    return MasqueradeRule(
        family=FAMILIES.get(family, str(family)),
        table=as_text(attrs.get(NFTA_RULE_TABLE)),
        chain=as_text(attrs.get(NFTA_RULE_CHAIN)),
        handle=_U64_BE.unpack_from(handle)[0] if handle and len(handle) >= 8 else 0,
        comment=_comment(attrs.get(NFTA_RULE_USERDATA)),
    )


class NetfilterSocket(Rtnl):
    """Rule dumps over one netfilter socket, and whether the rules changed since the last
    drain. Not thread-safe: one caller at a time."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.events = False

    def listen(self) -> None:
        self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)

    def drain(self) -> bool:
        """Whether the rules changed since the last drain (a notification, or an overflow:
        any message at all on the nftables group)."""
        for _ in self.queued():
            self.events = True
        seen, self.events = self.events, False
        return seen

    def masquerade_rules(self) -> tuple[MasqueradeRule, ...]:
        """Every rule of every table that has a `masq` expression."""
        kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE
        replies = self.dump_all(kind, _NFGEN.pack(socket.AF_UNSPEC, 0, 0))
        rules = (decode_rule(m, 0, len(m)) for m in replies)
        return tuple(rule for rule in rules if rule is not None)

    def _unsolicited(self, data: bytes, offset: int) -> None:
        self.events = True

    def _overflowed(self) -> None:
        self.events = True

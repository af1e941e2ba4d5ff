"""Link notifications applied to a namespace's interfaces, instead of dumping them again.

A RTM_NEWLINK notification (family AF_UNSPEC) carries the whole link, as a dump
would give it; RTM_DELLINK says it is gone (from this namespace: deleted or moved).
At 250 pods a node's links dump is ~250 messages to decode for one new veth, so the
watcher patches the tuple it has: the last message per ifindex wins, and the order
stays a dump's (by index).

What no message says is checked, and when in doubt the caller dumps again (None):
a veth end's peer is named by index, and by namespace id only when it lives
elsewhere. When one end of a pair inside this namespace leaves it, or an end
arrives whose peer is already here, the other end changes (its IFLA_LINK_NETNSID)
without a message of its own; and the end a new pair registers first is announced
with no peer index at all.

The kernel also drops a link's routes (and ARP entries) without notifications when
it goes down or away: `lost` tells the caller to read those again.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import replace

from pyroute2.netlink.rtnl import RTM_DELLINK

from lab.inspect import decode
from lab.inspect.dump import Interface

_TYPE = struct.Struct("=xxxxH")  # nlmsghdr: length, then type

Applied = tuple[tuple[Interface, ...], bool]  # (interfaces, lost: re-read routes/ARP)


def apply_link_messages(
    interfaces: tuple[Interface, ...], messages: Iterable[bytes]
) -> Applied | None:
    """`interfaces` after the RTM_NEWLINK/RTM_DELLINK `messages` (AF_UNSPEC, oldest
    first), and whether a link went away or down; None when that cannot be told."""
    before = {i.index: i for i in interfaces}
    now = dict(before)
    deleted = False
    touched: set[int] = set()
    for msg in messages:
        iface = decode.interface(msg)
        if iface is None or iface.index <= 0:
            return None
        touched.add(iface.index)
        if _TYPE.unpack_from(msg)[0] == RTM_DELLINK:
            now.pop(iface.index, None)
            deleted = True
        else:
            now[iface.index] = iface
    for index in touched:
        if index in now:
            if (found := _unlinked(index, now)) is None:
                return None
            now[index] = found
    if not all(_peer_told(i, before, now) for i in touched):
        return None
    if all(now.get(i) == before.get(i) for i in touched):
        return interfaces, False  # nothing we show changed
    lost = deleted or any(
        _went_down(before[i], now[i]) for i in touched if i in before and i in now
    )
    return tuple(sorted(now.values(), key=lambda i: i.index)), lost


def _unlinked(index: int, now: dict[int, Interface]) -> Interface | None:
    """The link at `index` with its veth peer filled in when the message left it out
    (None: it cannot be told). The end made first is announced before its peer has
    an index (IFLA_LINK 0), and no message follows when it gets one."""
    iface = now.get(index)
    if iface is None or iface.kind != "veth" or iface.link:
        return iface
    peer = next(
        (
            p
            for p in now.values()
            if p.kind == "veth" and p.link == index and p.link_netnsid is None
        ),
        None,
    )
    return replace(iface, link=peer.index) if peer is not None else None


def _peer_told(index: int, before: dict[int, Interface], now: dict[int, Interface]) -> bool:
    """Whether the veth pair of `index` inside this namespace is as messages left it:
    both ends here and naming each other, or both gone."""
    old, new = before.get(index), now.get(index)
    if old is not None and old.kind == "veth" and old.link_netnsid is None:
        peer = now.get(old.link)
        if peer is not None and (new is None or new.link != old.link):
            return False  # its peer stays, and no longer (or no more) names it
    if new is not None and new.kind == "veth" and new.link_netnsid is None:
        peer = now.get(new.link)
        if peer is None or peer.link != index or peer.link_netnsid is not None:
            return False
    return True


def _went_down(old: Interface, new: Interface) -> bool:
    """Set down, or lost its carrier (what makes the kernel drop routes or ARP)."""
    return (old.up and not new.up) or (old.operstate == "UP" and new.operstate != "UP")

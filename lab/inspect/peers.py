"""Pair the two ends of every veth, also across namespaces.

A veth end tells its peer's ifindex (IFLA_LINK) and, when the peer lives in another
namespace, that namespace's id *as this namespace numbers it* (IFLA_LINK_NETNSID).
Both ends often have the same ifindex (each namespace counts from 1, so two fresh
namespaces joined by a veth give index 2 on both sides), and the same nsid means a
different namespace when read in another one. So candidates are found by index
(the peer's index is ours and its IFLA_LINK is our index), then each is checked by
asking our namespace which id it gives the candidate's (`nsid_of`, RTM_GETNSID).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping

from lab.inspect.dump import Interface, NamespaceDump
from lab.inspect.namespaces import NetnsKey

IfRef = tuple[NetnsKey, int]  # (namespace, ifindex)
NsidOf = Callable[[NetnsKey, NetnsKey], "int | None"]


def resolve_veth_peers(
    dumps: Mapping[NetnsKey, NamespaceDump], nsid_of: NsidOf
) -> dict[IfRef, IfRef]:
    """{end: peer} for both ends of every veth whose two ends are both inspected."""
    return VethPeers().resolve(dumps, nsid_of)


class VethPeers:
    """`resolve_veth_peers` kept from one reading to the next: only the ends in the
    namespaces whose dump changed (by identity) are paired again, against an index
    of every veth end by (ifindex, peer ifindex). The dict returned is the same
    object as the last one when nothing changed."""

    def __init__(self) -> None:
        self._dumps: dict[NetnsKey, NamespaceDump] = {}
        self._by_link: dict[tuple[int, int], list[tuple[NetnsKey, Interface]]] = defaultdict(list)
        self._peers: dict[IfRef, IfRef] = {}

    def resolve(
        self,
        dumps: Mapping[NetnsKey, NamespaceDump],
        nsid_of: NsidOf,
        recheck: Collection[NetnsKey] = (),
    ) -> dict[IfRef, IfRef]:
        """Pair again the ends of changed namespaces, and of those in `recheck` (whose
        namespace ids may have changed)."""
        changed = {k for k, d in dumps.items() if self._dumps.get(k) is not d}
        changed |= self._dumps.keys() - dumps.keys()
        changed |= set(recheck) & dumps.keys()
        if not changed:
            return self._peers
        for key in changed:
            self._index(key, self._dumps.get(key), dumps.get(key))
        self._dumps = dict(dumps)
        full = len(changed) == len(dumps)
        peers = {
            e: p for e, p in self._peers.items() if e[0] not in changed and p[0] not in changed
        }
        for key in (k for k in dumps if k in changed):
            self._pair(key, dumps[key], peers, nsid_of, None if full else changed)
        self._peers = peers
        return peers

    def _index(self, key: NetnsKey, old: NamespaceDump | None, new: NamespaceDump | None) -> None:
        for dump, add in ((old, False), (new, True)):
            for iface in dump.interfaces if dump else ():
                if iface.kind != "veth" or iface.link_netnsid is None:
                    continue
                slot = self._by_link[(iface.index, iface.link)]
                if add:
                    slot.append((key, iface))
                else:
                    slot[:] = [x for x in slot if x[0] != key]
                    if not slot:
                        del self._by_link[(iface.index, iface.link)]

    def _pair(
        self,
        key: NetnsKey,
        dump: NamespaceDump,
        peers: dict[IfRef, IfRef],
        nsid_of: NsidOf,
        changed: set[NetnsKey] | None,
    ) -> None:
        """Pair the veth ends of `key`. An end in an unchanged namespace would have been
        checked from its own side too (`changed`: which those are; None: none)."""
        for iface in dump.interfaces:
            if iface.kind != "veth" or not iface.link or (key, iface.index) in peers:
                continue
            if iface.link_netnsid is None:  # both ends in this namespace
                if any(other.index == iface.link for other in dump.interfaces):
                    peers[(key, iface.index)] = (key, iface.link)
                    peers[(key, iface.link)] = (key, iface.index)
                continue
            for other_key, other in self._by_link.get((iface.link, iface.index), ()):
                if other_key == key or (other_key, other.index) in peers:
                    continue
                if nsid_of(key, other_key) == iface.link_netnsid or (
                    changed is not None
                    and other_key not in changed
                    and nsid_of(other_key, key) == other.link_netnsid
                ):
                    peers[(key, iface.index)] = (other_key, other.index)
                    peers[(other_key, other.index)] = (key, iface.index)
                    break

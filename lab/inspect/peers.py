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
    """`resolve_veth_peers` kept from one reading to the next: only the links that
    changed (a namespace's dump, then its Interface objects, compared by identity:
    links.py keeps those a notification did not touch) are paired again, against an
    index of every veth end by (ifindex, peer ifindex). The dict returned is the same
    object as the last one when nothing changed."""

    def __init__(self) -> None:
        self._dumps: dict[NetnsKey, NamespaceDump] = {}
        self._by_link: dict[tuple[int, int], list[tuple[NetnsKey, Interface]]] = {}
        self._peers: dict[IfRef, IfRef] = {}

    def resolve(
        self,
        dumps: Mapping[NetnsKey, NamespaceDump],
        nsid_of: NsidOf,
        recheck: Collection[NetnsKey] = (),
    ) -> dict[IfRef, IfRef]:
        """Pair again the changed links, and every link of the namespaces in `recheck`
        (whose namespace ids may have changed)."""
        again = set(recheck) & dumps.keys()
        changed = {k for k, d in dumps.items() if self._dumps.get(k) is not d} | again
        changed |= self._dumps.keys() - dumps.keys()
        if not changed:
            return self._peers
        first = not self._dumps
        peers = dict(self._peers)
        came: dict[NetnsKey, list[Interface]] = {}
        for key in changed:
            old, new = self._dumps.get(key), dumps.get(key)
            gone, came[key] = _changed_links(old, new, key in again)
            for iface in gone:
                self._index(key, iface, add=False)
            for iface in gone + came[key]:
                end = (key, iface.index)
                if (peer := peers.pop(end, None)) is not None and peers.get(peer) == end:
                    del peers[peer]
            for iface in came[key]:
                self._index(key, iface, add=True)
        self._dumps = dict(dumps)
        for key in (k for k in dumps if k in changed):
            self._pair(key, dumps[key], came[key], peers, nsid_of, reverse=not first)
        self._peers = peers
        return peers

    def _index(self, key: NetnsKey, iface: Interface, add: bool) -> None:
        if iface.kind != "veth" or iface.link_netnsid is None:
            return
        at = (iface.index, iface.link)
        if add:
            self._by_link.setdefault(at, []).append((key, iface))
            return
        slot = [x for x in self._by_link.get(at, ()) if x[0] != key or x[1] is not iface]
        if slot:
            self._by_link[at] = slot
        else:
            self._by_link.pop(at, None)

    def _pair(
        self,
        key: NetnsKey,
        dump: NamespaceDump,
        links: list[Interface],
        peers: dict[IfRef, IfRef],
        nsid_of: NsidOf,
        reverse: bool,
    ) -> None:
        """Pair these veth ends of `key`. `reverse`: also ask the other namespace (its
        end, unchanged, is not paired from its side this time)."""
        for iface in links:
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
                    reverse and nsid_of(other_key, key) == other.link_netnsid
                ):
                    peers[(key, iface.index)] = (other_key, other.index)
                    peers[(other_key, other.index)] = (key, iface.index)
                    break


def _changed_links(
    old: NamespaceDump | None, new: NamespaceDump | None, every: bool
) -> tuple[list[Interface], list[Interface]]:
    """(links gone from `old`, links new in `new`), by identity; `every`: all of them."""
    if old is None or new is None or every:
        return list(old.interfaces if old else ()), list(new.interfaces if new else ())
    old_ids, new_ids = set(map(id, old.interfaces)), set(map(id, new.interfaces))
    return (
        [i for i in old.interfaces if id(i) not in new_ids],
        [i for i in new.interfaces if id(i) not in old_ids],
    )

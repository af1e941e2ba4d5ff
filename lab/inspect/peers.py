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
from collections.abc import Callable, Mapping

from lab.inspect.dump import Interface, NamespaceDump
from lab.inspect.namespaces import NetnsKey

IfRef = tuple[NetnsKey, int]  # (namespace, ifindex)
NsidOf = Callable[[NetnsKey, NetnsKey], "int | None"]


def resolve_veth_peers(
    dumps: Mapping[NetnsKey, NamespaceDump], nsid_of: NsidOf
) -> dict[IfRef, IfRef]:
    """{end: peer} for both ends of every veth whose two ends are both inspected."""
    by_link: dict[tuple[int, int], list[tuple[NetnsKey, Interface]]] = defaultdict(list)
    for key, dump in dumps.items():
        for iface in dump.interfaces:
            if iface.kind == "veth" and iface.link_netnsid is not None:
                by_link[(iface.index, iface.link)].append((key, iface))

    peers: dict[IfRef, IfRef] = {}
    for key, dump in dumps.items():
        for iface in dump.interfaces:
            if iface.kind != "veth" or not iface.link or (key, iface.index) in peers:
                continue
            if iface.link_netnsid is None:  # both ends in this namespace
                if any(other.index == iface.link for other in dump.interfaces):
                    peers[(key, iface.index)] = (key, iface.link)
                    peers[(key, iface.link)] = (key, iface.index)
                continue
            for other_key, other in by_link.get((iface.link, iface.index), ()):
                if other_key == key or (other_key, other.index) in peers:
                    continue
                if nsid_of(key, other_key) == iface.link_netnsid:
                    peers[(key, iface.index)] = (other_key, other.index)
                    peers[(other_key, other.index)] = (key, iface.index)
                    break
    return peers

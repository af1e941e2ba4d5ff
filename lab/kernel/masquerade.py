"""One masquerade rule per attachment, tagged so DEL and GC find it without the netns.

The reference `bridge` finds its rule from the container's live addresses, so the
rule leaks when the namespace is already gone (containernetworking/plugins#810).
Here the rule carries a comment (a "tag") the caller derives from (network,
container ID, ifname), so it is found again from the CNI arguments alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from lab.kernel.nftables import list_rules, match, nat_postrouting, prefix, run_nft

FAMILY = "inet"
TABLE = "pycni"
CHAIN = "postrouting"
MULTICAST_V4 = ipaddress.ip_network("224.0.0.0/4")
MULTICAST_V6 = ipaddress.ip_network("ff00::/8")


def add_masquerade(tag: str, address: Any, subnet: Any) -> None:
    """Masquerade what `address` sends outside its subnet (multicast stays untouched)."""
    proto = "ip" if address.version == 4 else "ip6"
    mcast = MULTICAST_V4 if address.version == 4 else MULTICAST_V6
    expr = [
        match(proto, "saddr", "==", str(address)),
        match(proto, "daddr", "!=", {"set": [prefix(subnet), prefix(mcast)]}),
        {"masquerade": None},
    ]
    rule = {"family": FAMILY, "table": TABLE, "chain": CHAIN, "expr": expr, "comment": tag}
    run_nft([*nat_postrouting(FAMILY, TABLE, CHAIN), {"add": {"rule": rule}}])


def _delete(handles: Iterable[int]) -> int:
    cmds = [
        {"delete": {"rule": {"family": FAMILY, "table": TABLE, "chain": CHAIN, "handle": h}}}
        for h in handles
    ]
    if cmds:
        run_nft(cmds)
    return len(cmds)


def remove_masquerade(tag: str) -> int:
    """Remove every rule carrying `tag`; 0 when there was none (a second DEL)."""
    return _delete(r["handle"] for r in list_rules(FAMILY, TABLE, CHAIN) if r.get("comment") == tag)


def remove_masquerade_except(network: str, keep: set[str]) -> int:
    """GC: drop this network's rules whose tag is not among the valid attachments."""
    mine = f"{network} "
    stale = [
        r["handle"]
        for r in list_rules(FAMILY, TABLE, CHAIN)
        if str(r.get("comment", "")).startswith(mine) and r.get("comment") not in keep
    ]
    return _delete(stale)

"""Let pod traffic through a host firewall whose forward path drops by default.

Turning ip_forward on is not enough on a real host: Docker sets iptables' FORWARD
policy to DROP, and an nftables firewall may have a forward chain with policy drop.
Pods on the bridge and pods of other nodes then cannot reach each other (kind and
flannel add the same accept rules). Every rule we add carries COMMENT and is
recorded as an `Opening`, so undo removes exactly ours and leaves the rest alone.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from lab.kernel.nftables import _nft as nft_binary  # finds nft with an empty PATH too
from lab.kernel.nftables import list_rules, match, prefix, run_nft

COMMENT = "cnilab: pod network"
TIMEOUT = 10.0
FIELDS = ("saddr", "daddr")


class FirewallError(RuntimeError):
    pass


@dataclass(frozen=True)
class Opening:
    """One place where we let the pod network through: iptables' FORWARD or an nft chain."""

    tool: str  # "iptables" or "nft"
    family: str = "ip"
    table: str = "filter"
    chain: str = "FORWARD"

    def to_dict(self) -> dict[str, str]:
        return {"tool": self.tool, "family": self.family, "table": self.table, "chain": self.chain}


def _iptables() -> str | None:
    candidates = (shutil.which("iptables"), "/usr/sbin/iptables", "/sbin/iptables")
    return next((p for p in candidates if p and os.access(p, os.X_OK)), None)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def _iptables_rules(pod_network: str) -> list[list[str]]:
    comment = ["-m", "comment", "--comment", COMMENT]
    return [[flag, pod_network, *comment, "-j", "ACCEPT"] for flag in ("-s", "-d")]


def iptables_forward_drops() -> bool:
    """True when iptables' FORWARD policy is DROP (listing creates nothing, even with -nft)."""
    ipt = _iptables()
    if ipt is None:
        return False
    proc = _run([ipt, "-w", "-S", "FORWARD"])
    return proc.returncode == 0 and proc.stdout.startswith("-P FORWARD DROP")


def nft_forward_drops() -> list[Opening]:
    """nftables base chains on the forward hook with policy drop (iptables' own left out)."""
    proc = _run([nft_binary(), "-j", "list", "chains"])
    if proc.returncode != 0:
        raise FirewallError(f"nft could not list chains: {proc.stderr.strip()}")
    found = []
    for item in json.loads(proc.stdout).get("nftables", []):
        chain = item.get("chain")
        if not chain or chain.get("hook") != "forward" or chain.get("policy") != "drop":
            continue
        if chain["family"] not in ("ip", "inet"):
            continue
        if chain["family"] == "ip" and chain["table"] == "filter" and chain["name"] == "FORWARD":
            continue  # iptables-nft's chain: handled through iptables itself
        found.append(Opening("nft", chain["family"], chain["table"], chain["name"]))
    return found


def _nft_open(opening: Opening, pod_network: str) -> bool:
    """Insert accept rules at the top of the chain; False when ours are already there."""
    rules = list_rules(opening.family, opening.table, opening.chain)
    if any(r.get("comment") == COMMENT for r in rules):
        return False
    net = ipaddress.ip_network(pod_network)
    where = {"family": opening.family, "table": opening.table, "chain": opening.chain}
    run_nft(
        [
            {
                "insert": {
                    "rule": {
                        **where,
                        "comment": COMMENT,
                        "expr": [match("ip", field, "==", prefix(net)), {"accept": None}],
                    }
                }
            }
            for field in FIELDS
        ]
    )
    return True


def _iptables_open(pod_network: str) -> bool:
    ipt = _iptables()
    assert ipt is not None  # only called when iptables said DROP
    added = False
    for rule in reversed(_iptables_rules(pod_network)):  # inserted at 1: keep -s first
        if _run([ipt, "-w", "-C", "FORWARD", *rule]).returncode == 0:
            continue
        proc = _run([ipt, "-w", "-I", "FORWARD", "1", *rule])
        if proc.returncode != 0:
            raise FirewallError(f"iptables refused the accept rule: {proc.stderr.strip()}")
        added = True
    return added


def allow_forwarding(pod_network: str, recorded: list[Opening]) -> list[Opening]:
    """Open every dropping forward path for the pod network; return all openings that are ours.

    A rule that was already there and is not in `recorded` belongs to someone else:
    it is used but never recorded, so undo will not remove it.
    """
    ours = list(recorded)
    if iptables_forward_drops():
        opening = Opening("iptables")
        if _iptables_open(pod_network) and opening not in ours:
            ours.append(opening)
    for opening in nft_forward_drops():
        if _nft_open(opening, pod_network) and opening not in ours:
            ours.append(opening)
    return ours


def _iptables_close(pod_network: str) -> None:
    ipt = _iptables()
    if ipt is None:
        return
    for rule in _iptables_rules(pod_network):
        _run([ipt, "-w", "-D", "FORWARD", *rule])  # "Bad rule": already gone, fine


def _nft_close(opening: Opening) -> None:
    where = {"family": opening.family, "table": opening.table, "chain": opening.chain}
    rules = list_rules(opening.family, opening.table, opening.chain)  # [] when the chain went
    handles = [r["handle"] for r in rules if r.get("comment") == COMMENT]
    if handles:
        run_nft([{"delete": {"rule": {**where, "handle": h}}} for h in handles])


def close(openings: list[Opening], pod_network: str) -> None:
    """Remove our accept rules; rules or chains already gone are fine."""
    for opening in openings:
        if opening.tool == "iptables":
            _iptables_close(pod_network)
        else:
            _nft_close(opening)


def openings_from(items: list[dict[str, Any]]) -> list[Opening]:
    return [Opening(**item) for item in items]

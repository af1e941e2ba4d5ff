"""Step 9: egress. Each node's masquerade chain, kept as kindnet keeps it. Fill in the
TODO, then `cnilab exercise check 9`.

The check calls `ensure_masquerade(pod_cidrs)` inside a node's network namespace each
time the cluster's node list changes; `nft` run from here changes that node's rules.
"""

from __future__ import annotations

import ipaddress
import subprocess

TABLE = "cnilab"
CHAIN = "postrouting"


def masquerade_script(pod_cidrs: list[str]) -> str:
    """The nft script that makes the chain exactly so, in one transaction.

    TODO: a table `ip cnilab` with a NAT chain `postrouting` on the postrouting hook.
    Traffic to any of `pod_cidrs` leaves with its source untouched; anything else
    leaving the node gets the node's own address. Running it again must give the same
    chain, and leave the node's other tables alone. Every CIDR is checked first: a
    host address (not a network) is a ValueError, before nft is run at all.
    """
    raise NotImplementedError


def ensure_masquerade(pod_cidrs: list[str]) -> None:
    """Make this node's masquerade chain match the cluster's pod CIDRs.

    `pod_cidrs` is every node's pod CIDR, this node's included: ["10.244.0.0/24", ...].
    """
    script = masquerade_script(pod_cidrs)
    done = subprocess.run(
        ["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"nft refused the masquerade chain: {done.stderr.strip()}")

"""Step 9: egress. Each node's masquerade chain, kept as kindnet keeps it (reference
solution).

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

    Every CIDR is checked first (a host address is a ValueError): nothing that is not
    a network ever reaches nft.
    """
    nets = [ipaddress.IPv4Network(cidr) for cidr in pod_cidrs]
    if not nets:
        raise ValueError("no pod CIDRs: the chain would masquerade pod-to-pod traffic")
    chain = f"ip {TABLE} {CHAIN}"
    lines = [
        f"add table ip {TABLE}",  # add: no error when it is there already
        f"add chain {chain} {{ type nat hook postrouting priority srcnat; policy accept; }}",
        f"flush chain {chain}",  # this chain only: what a node's other tables hold stays
    ]
    # Pod to pod (on this node or another) keeps its source: pods see real pod IPs.
    lines += [f"add rule {chain} ip daddr {net} return" for net in nets]
    # Anything else leaving the node gets the address of the interface it leaves by.
    lines.append(f"add rule {chain} masquerade")
    return "\n".join(lines) + "\n"


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

"""Step 8: egress. The node's masquerade rule (reference solution).

The check loads what `masquerade_statement` returns into node1's NAT chain, in place of
the lab's own rule (and puts the lab's back afterwards):

    table ip cnilab {
        chain postrouting {
            type nat hook postrouting priority srcnat; policy accept;
            <your statement>
        }
    }
"""

from __future__ import annotations

from ipaddress import ip_network


def masquerade_statement(pod_network: str) -> str:
    """The rule body: which packets the node rewrites to its own address as they leave.

    `pod_network` is the whole cluster's pod network, e.g. "10.244.0.0/16".
    """
    net = ip_network(pod_network)  # refuses garbage before nft sees it
    # From a pod, to anything that is not a pod: the internet sees the node's address.
    # Pod to pod (on this node or another) keeps its source: pods see real pod IPs.
    return f"ip saddr {net} ip daddr != {net} masquerade"

"""Step 8: egress. The node's masquerade rule. Fix the TODO, then `cnilab exercise check 8`.

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


def masquerade_statement(pod_network: str) -> str:
    """The rule body: which packets the node rewrites to its own address as they leave.

    `pod_network` is the whole cluster's pod network, e.g. "10.244.0.0/16".
    """
    # TODO: this masquerades everything the node sends, like many tutorials' init
    #       scripts. It gets pods to the internet, but look at what node2 sees when a
    #       pod on node1 pings a pod on node2 (`cnilab trace`). Say *which* packets
    #       to rewrite: from a pod (ip saddr ...), to somewhere that is not a pod.
    return "masquerade"

"""The lab's status as the CLI (`cnilab status`) and the web app (`/api/status`) show it."""

from __future__ import annotations

from typing import Any

from lab.cluster.plan import Plan
from lab.kernel.netns import list_netns
from lab.pycni.daemon_control import daemons_in


def status_of(plan: Plan) -> dict[str, Any]:
    from lab.runtime.pods import Runtime

    present = set(list_netns())
    pods = Runtime(plan).list()
    return {
        "up": True,
        "state_dir": plan.state_dir,
        "underlay": plan.underlay,
        "internet": plan.internet_address,
        "nodes": [
            {
                "name": n.name,
                "netns": n.netns,
                "present": n.netns in present,
                "underlay_ip": n.underlay_ip,
                "pod_cidr": n.pod_cidr,
                "daemon": bool(daemons_in(n.netns_path)),
                "pods": [p.name for p in pods if p.node == n.name],
            }
            for n in plan.nodes
        ],
    }

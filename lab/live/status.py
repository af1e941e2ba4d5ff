"""The lab's status as the CLI (`cnilab status`) and the web app (`/api/status`) show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.cluster import build
from lab.cluster.plan import Plan
from lab.kernel.netns import list_netns


def status_of(plan: Plan) -> dict[str, Any]:
    from lab.runtime.pods import Runtime

    present = set(list_netns())
    agents = {}
    agents_file = Path(plan.state_dir, build.AGENTS_FILE)
    if agents_file.exists():
        pids = json.loads(agents_file.read_text())
        agents = {name: build.is_our_agent(pid) for name, pid in pids.items()}
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
                "agent": agents.get(n.name, False),
                "pods": [p.name for p in pods if p.node == n.name],
            }
            for n in plan.nodes
        ],
    }

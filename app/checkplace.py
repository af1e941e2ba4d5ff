"""Where a step's check runs, and what the page says of it.

With an embedded lab up (`cnilab up`), checks run on it. On the Vagrant lab (the app
on node1 showing node agents, no embedded lab) every check runs on an embedded lab
inside node1: namespaces of its own prefix and state dir (CHECK_LAB_DIR,
CHECK_LAB_PREFIX), made on demand as `cnilab up` makes one and kept for the next
check, never touching the VM's own network. None runs on the VMs themselves: each
check makes and breaks nodes, pods, routes and faults of its own (a step's one-bug
variants, bare nodes), which two real hosts cannot give without changing their own
network. Node1's terminals point `cnilab` at the same lab, so a step's "What to run"
works there as written, and the steps whose idea the VMs show for real say how.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from flask import current_app

from app.labstate import get_lab
from lab.cluster import build
from lab.cluster.plan import Plan, load_plan, make_plan
from lab.exercises.catalog import Exercise
from lab.kernel.netns import list_netns

CHECK_LAB_DIR = "/run/cnilab-check"  # not under /run/cnilab: `cnilab down` there removes all
CHECK_LAB_PREFIX = "cnicheck"  # not `cnilab-`: the agents' pods are cnilab-NAME
ON_THE_VMS = {  # what the two VMs show for real of a step's idea (not a check)
    "same-node": "On the VMs: two `cnilab node pod add` pods on node1 ping each other (TTL 64).",
    "cross-node": "On the VMs: a pod on each (`cnilab node pod add`) ping across (TTL 62).",
    "egress": "On the VMs: a pod pings out through node1's masquerade (`cnilab node pod add`).",
}


@dataclass(frozen=True)
class CheckPlace:
    kind: str  # "lab": the embedded lab up here; "node-lab": one inside a real node
    node: str  # node-lab: the node it is inside
    text: str  # what the page says
    vms: str = ""  # node-lab: what the VMs show of the step for real, if anything

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_lab_config() -> tuple[str, str]:
    config = current_app.config
    return config.get("CHECK_LAB_DIR") or CHECK_LAB_DIR, config.get("CHECK_LAB_PREFIX") or (
        CHECK_LAB_PREFIX
    )


def place_of(ex: Exercise) -> CheckPlace:
    """Where `ex`'s check runs now; 409 when there is nowhere (no lab, no agents)."""
    lab = get_lab()
    if lab.plan() is not None or not lab.agents:
        lab.require_plan()
        return CheckPlace("lab", "", "checked on the embedded lab (`cnilab up`) on this machine")
    node = current_app.config.get("LOCAL_NODE") or "the app's machine"
    text = f"checked on an embedded lab inside {node}, because this step builds on namespaces"
    return CheckPlace("node-lab", node, text, ON_THE_VMS.get(ex.slug, ""))


def plan_for(place: CheckPlace) -> tuple[Plan, bool]:
    """The lab the check runs on, and whether it was made just now (`cnilab up`'s way:
    a half-made or half-gone one is removed first)."""
    if place.kind == "lab":
        return get_lab().require_plan(), False
    state_dir, prefix = check_lab_config()
    plan = load_plan(state_dir)
    if plan is not None and set(plan.namespaces()) <= set(list_netns()):
        return plan, False
    build.down(plan or make_plan(2, prefix=prefix, state_dir=state_dir))
    return build.up(make_plan(2, prefix=prefix, state_dir=state_dir)), True

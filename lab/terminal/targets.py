"""Where a terminal's shell may run: a lab node, a pod, or the underlay. Never the host.

A target comes from the page as `node:NAME`, `pod:NAME` or `underlay`; it is checked
against the running lab's plan (and the pod against the runtime) before it becomes a
namespace path, so nothing a browser sends can name the host's namespace or a file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from lab.cluster.plan import Plan, PlanError, is_pod_name
from lab.runtime.pods import PodError, Runtime

TARGET_RE = re.compile(r"^(node|pod):([a-z0-9-]{1,40})$|^underlay$")


class TargetError(ValueError):
    """A target the page asked for that this lab does not have."""


@dataclass(frozen=True)
class Target:
    id: str  # node:node1, pod:web, underlay
    label: str  # what the tab and the prompt show
    netns: str

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label}


def list_targets(plan: Plan) -> list[Target]:
    """Every place a shell may be opened now: the nodes, the underlay, the pods."""
    found = [Target(f"node:{n.name}", n.name, n.netns) for n in plan.nodes]
    if plan.underlay_netns:
        found.append(Target("underlay", "underlay", plan.underlay_netns))
    try:
        pods = Runtime(plan).list()
    except (OSError, PodError, ValueError):  # a pod file being written: list the rest next time
        pods = []
    found += [Target(f"pod:{p.name}", p.name, p.netns) for p in sorted(pods, key=lambda p: p.name)]
    return found


def resolve(plan: Plan, spec: object) -> Target:
    """The target `spec` names, or TargetError saying what may be asked instead."""
    if not isinstance(spec, str) or not TARGET_RE.fullmatch(spec):
        raise TargetError("a terminal opens on node:NAME, pod:NAME or underlay")
    kind, _, name = spec.partition(":")
    if kind == "underlay":
        target = Target("underlay", "underlay", plan.underlay_netns)
    elif kind == "node":
        try:
            node = plan.node(name)
        except PlanError as e:
            raise TargetError(str(e)) from None
        target = Target(spec, node.name, node.netns)
    else:
        try:
            pod = Runtime(plan).get(name) if is_pod_name(name) else None
        except PodError as e:
            raise TargetError(str(e)) from None
        if pod is None:
            raise TargetError(f"there is no pod {name!r} in the lab (cnilab pod list)")
        target = Target(spec, pod.name, pod.netns)
    if not target.netns or not os.path.exists(target.netns_path):
        raise TargetError(f"{target.label}: its namespace is gone (is the lab up?)")
    return target

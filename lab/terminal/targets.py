"""Where a terminal's shell may run. Never anywhere a browser names by path.

In the embedded lab a target is `node:NAME`, `pod:NAME` or `underlay`, checked against
the running lab's plan (and the pod against the runtime). On real nodes (the Vagrant
lab: `cnilab serve --agents` and no embedded lab) it is `node:NODE` or
`pod:NODE/NETNS`, checked against what that node serves (lab.agent.scope.NodeScope, whose shape
`ServedNode` names: lab.agent builds on this package, not the other way):
its own namespace (on a real host, the host's: the one case a shell runs there) and
its pods. Only then does a target become a namespace path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Protocol

from lab.cluster.plan import Plan, PlanError, is_pod_name
from lab.kernel.netns import NETNS_RUN_DIR
from lab.runtime.pods import PodError, Runtime

TARGET_RE = re.compile(r"^(node|pod):([a-z0-9-]{1,40})$|^underlay$")
NODE_TARGET_RE = re.compile(
    r"^node:(?P<node>[a-z0-9][a-z0-9._-]{0,62})$"
    r"|^pod:(?P<pod_node>[a-z0-9][a-z0-9._-]{0,62})/(?P<netns>[A-Za-z0-9_.-]{1,200})$"
)


class TargetError(ValueError):
    """A target the page asked for that this lab does not have."""


class ServedNode(Protocol):
    """A real node as this host serves it (lab.agent.scope.NodeScope)."""

    @property
    def node(self) -> str: ...
    @property
    def netns(self) -> str | None: ...  # None: this host's own namespace

    def is_pod(self, name: str) -> bool: ...
    def pods_now(self) -> list[str]: ...
    def pod_label(self, local: str) -> str: ...


@dataclass(frozen=True)
class Target:
    id: str  # node:node1, pod:web, underlay; on real nodes node:node2, pod:node2/cnilab-db
    label: str  # what the tab and the prompt show
    path: str  # the namespace file the shell joins
    node: str = ""  # real nodes: whose

    @property
    def netns_path(self) -> str:
        return self.path

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label, **({"node": self.node} if self.node else {})}


def _named(netns: str) -> str:
    return f"{NETNS_RUN_DIR}/{netns}"


def list_targets(plan: Plan) -> list[Target]:
    """Every place a shell may be opened now: the nodes, the underlay, the pods."""
    found = [Target(f"node:{n.name}", n.name, _named(n.netns)) for n in plan.nodes]
    if plan.underlay_netns:
        found.append(Target("underlay", "underlay", _named(plan.underlay_netns)))
    try:
        pods = Runtime(plan).list()
    except (OSError, PodError, ValueError):  # a pod file being written: list the rest next time
        pods = []
    for pod in sorted(pods, key=lambda p: p.name):
        found.append(Target(f"pod:{pod.name}", pod.name, _named(pod.netns)))
    return found


def resolve(plan: Plan, spec: object) -> Target:
    """The target `spec` names, or TargetError saying what may be asked instead."""
    if not isinstance(spec, str) or not TARGET_RE.fullmatch(spec):
        raise TargetError("a terminal opens on node:NAME, pod:NAME or underlay")
    kind, _, name = spec.partition(":")
    if kind == "underlay":
        target = Target("underlay", "underlay", _named(plan.underlay_netns))
    elif kind == "node":
        try:
            node = plan.node(name)
        except PlanError as e:
            raise TargetError(str(e)) from None
        target = Target(spec, node.name, _named(node.netns))
    else:
        try:
            pod = Runtime(plan).get(name) if is_pod_name(name) else None
        except PodError as e:
            raise TargetError(str(e)) from None
        if pod is None:
            raise TargetError(f"there is no pod {name!r} in the lab (cnilab pod list)")
        target = Target(spec, pod.name, _named(pod.netns))
    if (kind == "underlay" and not plan.underlay_netns) or not os.path.exists(target.path):
        raise TargetError(f"{target.label}: its namespace is gone (is the lab up?)")
    return target


# Real nodes


def node_of(spec: object) -> str:
    """The node a real-node target names, or TargetError."""
    match = NODE_TARGET_RE.fullmatch(spec) if isinstance(spec, str) else None
    if match is None:
        raise TargetError("a terminal opens on node:NODE or pod:NODE/NAMESPACE")
    return match["node"] or match["pod_node"]


def _scope_path(scope: ServedNode) -> str:
    """The node's own namespace: the stand-in's, or this very process's (the host's)."""
    return _named(scope.netns) if scope.netns else f"/proc/{os.getpid()}/ns/net"


def node_targets(scope: ServedNode) -> list[Target]:
    """The node and its pods, as they are now, on the host this process runs on."""
    found = [Target(f"node:{scope.node}", scope.node, _scope_path(scope), scope.node)]
    for netns in sorted(scope.pods_now()):
        label = f"{scope.node}/{scope.pod_label(netns)}"
        found.append(Target(f"pod:{scope.node}/{netns}", label, _named(netns), scope.node))
    return found


def resolve_on_node(scope: ServedNode, spec: object) -> Target:
    """A real-node target of this host's node `scope`, or TargetError."""
    node = node_of(spec)
    if node != scope.node:
        raise TargetError(f"{spec} is not on {scope.node}")
    netns = str(spec).partition("/")[2]
    if not netns:
        return Target(f"node:{node}", node, _scope_path(scope), node)
    if netns in (".", "..") or not scope.is_pod(netns) or not os.path.exists(_named(netns)):
        raise TargetError(f"there is no pod namespace {netns!r} on {node}")
    return Target(f"pod:{node}/{netns}", f"{node}/{scope.pod_label(netns)}", _named(netns), node)

"""`cnilab exec TARGET -- CMD...`: run a command inside a pod's (or node's) namespace."""

from __future__ import annotations

import os
import shutil

import click

from lab.cli.main import Exit, Lab, fail, pass_lab
from lab.cluster.plan import Plan, is_pod_name
from lab.runtime.pods import Runtime


def target_netns(plan: Plan, target: str) -> str:
    """A pod name, a node name, or `internet` / `underlay`."""
    if any(n.name == target for n in plan.nodes):
        return plan.node(target).netns
    if target in ("internet", "underlay"):
        return plan.internet_netns if target == "internet" else plan.underlay_netns
    pod = Runtime(plan).get(target) if is_pod_name(target) else None
    if pod is None:
        fail(f"no pod, node or lab namespace named {target!r}", Exit.USAGE)
    return pod.netns  # type: ignore[union-attr]


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_lab
def exec_(lab: Lab, target: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in TARGET's network namespace: `cnilab exec web -- ping -c1 10.244.1.2`."""
    netns = target_netns(lab.require_plan(), target)
    nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
    os.execv(nsenter, [nsenter, f"--net=/run/netns/{netns}", "--", *command])

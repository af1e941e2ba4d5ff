"""`cnilab up | down | status`."""

from __future__ import annotations

import json
import os
import time

import click

from lab.cli.main import Exit, Lab, fail, pass_lab
from lab.cluster import build
from lab.cluster.plan import DEFAULT_PREFIX, PlanError, make_plan
from lab.live.status import status_of


@click.command()
@click.option("--nodes", default=2, show_default=True, help="How many nodes (1-9).")
@click.option(
    "--prefix",
    default=lambda: os.environ.get("CNILAB_PREFIX", DEFAULT_PREFIX),
    show_default=f"{DEFAULT_PREFIX} or $CNILAB_PREFIX",
    help="Namespace name prefix (a lab of one's own beside another, as tests need).",
)
@click.option(
    "--reference-plugins",
    is_flag=True,
    help="Pods use Debian's reference bridge + host-local instead of pycni.",
)
@click.option(
    "--bare",
    default="",
    metavar="PIECES",
    help="Leave pieces of each node to your code: bridge, routes, masquerade (comma-separated) "
    "or all.",
)
@pass_lab
def up(lab: Lab, nodes: int, prefix: str, reference_plugins: bool, bare: str) -> None:
    """Bring up the embedded lab: nodes as network namespaces on an underlay."""
    try:
        plan = make_plan(nodes, prefix=prefix, state_dir=lab.state_dir, bare=bare)
    except PlanError as e:
        fail(str(e), Exit.USAGE)
    start = time.monotonic()
    try:
        build.up(plan, lambda line: click.echo(f"  {line}"), reference=reference_plugins)
    except (build.LabError, OSError) as e:
        fail(str(e))
    click.echo(f"lab up in {time.monotonic() - start:.2f}s. Next: cnilab pod add web --node node1")


@click.command()
@pass_lab
def down(lab: Lab) -> None:
    """Remove every namespace, process and file of the lab (again: nothing to do)."""
    removed = build.down(lab.plan())
    click.echo(f"removed {len(removed)} namespaces" if removed else "no lab is up")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_lab
def status(lab: Lab, as_json: bool) -> None:
    """Show the lab: nodes, their addresses, pod CIDRs, agents and pods."""
    plan = lab.plan()
    if plan is None:
        if as_json:
            click.echo(json.dumps({"up": False}))
        else:
            click.echo("no lab is up: run `cnilab up`")
        raise SystemExit(int(Exit.NO_LAB))
    info = {**status_of(plan), "bare": sorted(plan.bare)}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"underlay {info['underlay']}, internet {info['internet']}")
    if plan.bare:
        click.echo(f"left to your code on every node: {', '.join(info['bare'])}")
    for n in info["nodes"]:
        daemon = "daemon up" if n["daemon"] else "no daemon"
        missing = "" if n["present"] else "  (namespace missing!)"
        pods = ", ".join(n["pods"]) or "no pods"
        where = f"{n['name']:6} {n['underlay_ip']:15} pods {n['pod_cidr']:15}"
        click.echo(f"  {where} {daemon:9} {pods}{missing}")

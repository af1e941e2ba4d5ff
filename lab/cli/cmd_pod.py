"""`cnilab pod add | del | list | check`."""

from __future__ import annotations

import json

import click

from lab.cli.demo_echo import run_with_echo
from lab.cli.main import Lab, fail, pass_lab
from lab.live.demo import DemoSession
from lab.runtime.batch import MAX_COUNT, add_batch, batch_names, check_free
from lab.runtime.pods import Pod, PodError, PortMapping, Runtime


def _runtime(lab: Lab) -> Runtime:
    return Runtime(lab.require_plan())


def _describe(pod: Pod) -> str:
    ifs = ", ".join(
        f"{a.ifname} {' '.join(ip['address'] for ip in a.result.get('ips', []))}"
        for a in pod.attachments
    )
    return f"{pod.name:16} {pod.node:6} {pod.container_id[:12]}  {ifs}"


@click.group()
def pod() -> None:
    """Pods: network namespaces attached by the node's CNI plugin chain."""


@pod.command("add")
@click.argument("name")
@click.option("--node", help="Node to run on (default: node1, or the pod's node).")
@click.option("--ifname", default="eth0", show_default=True, help="Interface in the pod.")
@click.option(
    "--plugin",
    "plugin_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Run this Python file in place of pycni (your plugin).",
)
@click.option("--network", default="", help="Network name (default: the first one not attached).")
@click.option("--publish", "-p", multiple=True, help="Port mapping HOST:CONTAINER[/udp].")
@click.option(
    "--demo", type=click.FloatRange(0, 10), default=0.0, help="Slow motion: pause N s per step."
)
@click.option("--step", "manual", is_flag=True, help="Slow motion: wait for Enter after each step.")
@click.option(
    "--count",
    type=click.IntRange(1, MAX_COUNT),
    default=None,
    help="Make pods NAME-1 ... NAME-N (all or none).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_lab
def add(
    lab: Lab,
    name: str,
    node: str | None,
    ifname: str,
    plugin_file: str | None,
    network: str,
    publish: tuple[str, ...],
    demo: float,
    manual: bool,
    count: int | None,
    as_json: bool,
) -> None:
    """Create pod NAME (or give it one more interface) through the CNI chain.

    With --demo or --step, pycni's steps are printed as it reports them: what each
    does, the `ip`/`nft` commands that would do the same, and what it touched.
    """
    runtime = _runtime(lab)
    try:
        ports = [PortMapping.parse(p) for p in publish]
        options = {"node": node, "ifname": ifname, "plugin_file": plugin_file or ""}
        options |= {"network": network, "ports": ports}
        if count is not None:  # every name is checked before the first pod is made
            try:
                check_free(runtime, batch_names(name, count))
            except PodError as e:
                fail(str(e))

        def work(session: DemoSession | None) -> list[Pod]:
            if count is None:
                return [runtime.add(name, demo=session, **options)]
            return add_batch(runtime, name, count, demo=session, **options)

        slow = demo or manual
        made = run_with_echo(work, demo, manual, count or 1) if slow else work(None)
    except ValueError as e:  # an unknown node
        fail(str(e))
    except PodError as e:
        fail(f"{e}\n(see `cnilab calls` for what the plugin received and printed)")
    if as_json:
        out = [p.to_dict() for p in made]
        click.echo(json.dumps(out if count is not None else out[0], indent=2))
    else:
        for pod_made in made:
            click.echo(_describe(pod_made))


@pod.command("del")
@click.argument("name")
@pass_lab
def delete(lab: Lab, name: str) -> None:
    """DEL every interface of pod NAME, then remove its namespace."""
    try:
        gone = _runtime(lab).delete(name)
    except PodError as e:
        fail(str(e))
    click.echo(f"deleted {gone.name} from {gone.node}")


@pod.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_lab
def list_(lab: Lab, as_json: bool) -> None:
    """List the lab's pods with their node, container ID and addresses."""
    pods = _runtime(lab).list()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in pods], indent=2))
    else:
        for p in pods:
            click.echo(_describe(p))


@pod.command("check")
@click.argument("name")
@pass_lab
def check(lab: Lab, name: str) -> None:
    """Run CHECK for every interface of pod NAME (with the cached result)."""
    try:
        checked = _runtime(lab).check(name)
    except PodError as e:
        fail(str(e))
    click.echo(f"{name}: CHECK passed for {', '.join(checked) or 'no interfaces'}")

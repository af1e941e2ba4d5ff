"""`cnilab pod add | del | list | check`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click

from lab.cli.main import Lab, fail, pass_lab
from lab.runtime.pods import Pod, PodError, PortMapping, Runtime


class StepEcho:
    """In slow motion, print pycni's steps as it logs them (the graph shows them too)."""

    def __init__(self, log_file: str, enabled: bool) -> None:
        self.path = Path(log_file)
        self.enabled = enabled
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> StepEcho:
        if self.enabled:
            self.start = self.path.stat().st_size if self.path.exists() else 0
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.stop.set()
            self.thread.join()

    def _follow(self) -> None:
        offset = self.start
        while True:
            stopping = self.stop.wait(0.1)
            if self.path.exists():
                with self.path.open() as f:
                    f.seek(offset)
                    for line in f:
                        if ": step " in line:
                            click.secho("  " + line.split(": step ", 1)[1].rstrip(), dim=True)
                    offset = f.tell()
            if stopping:
                return


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
@click.option("--demo", type=click.FloatRange(0, 10), default=0.0, help="Pause N s per step.")
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
    as_json: bool,
) -> None:
    """Create pod NAME (or give it one more interface) through the CNI chain."""
    runtime = _runtime(lab)
    try:
        ports = [PortMapping.parse(p) for p in publish]
        node = node or (existing.node if (existing := runtime.get(name)) else None)
        log = runtime.plan.node(node or runtime.plan.nodes[0].name).log_file
        with StepEcho(log, enabled=demo > 0):
            made = runtime.add(name, node, ifname, plugin_file or "", demo, network, ports)
    except ValueError as e:  # an unknown node
        fail(str(e))
    except PodError as e:
        fail(f"{e}\n(see `cnilab calls` for what the plugin received and printed)")
    click.echo(json.dumps(made.to_dict(), indent=2) if as_json else _describe(made))


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

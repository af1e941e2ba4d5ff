"""`cnilab cni COMMAND`: call any plugin by hand, the way the seeds do, and show it all.

It prints the exact environment and stdin it hands the plugin, runs the plugin in
the node's namespace, then prints what came back. The call goes in the journal too.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import click

from lab.cli.main import Exit, Lab, fail, pass_lab
from lab.cni.config import build_plugin_config, load_json
from lab.cni.errors import CNIError
from lab.cni.invoke import JournalingExec, RawExec, plugin_argv
from lab.cni.skel import COMMANDS
from lab.runtime.confs import select_network
from lab.runtime.journal import Journal
from lab.runtime.libcni import CNIConfig, RuntimeConf
from lab.runtime.student import TYPE, StudentPluginError, plugin_label, student_bin_dir

NETNS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@click.command()
@click.argument("command", type=click.Choice(COMMANDS, case_sensitive=False))
@click.option("--node", default="node1", show_default=True, help="Node to run the plugin on.")
@click.option("--netns", help="Pod namespace: a name in /run/netns or a path.")
@click.option("--ifname", default="eth0", show_default=True)
@click.option("--container-id", help="Default: a fresh random ID.")
@click.option(
    "--conf",
    "conf_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Plugin config JSON (default: the node's first plugin, as the runtime builds it).",
)
@click.option("--type", "plugin_type", help="Plugin to run (default: the config's type).")
@click.option(
    "--plugin",
    "plugin_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run your own file (a .py plugin) as the config's type, as a check does.",
)
@pass_lab
def cni(
    lab: Lab,
    command: str,
    node: str,
    netns: str | None,
    ifname: str,
    container_id: str | None,
    conf_file: Path | None,
    plugin_type: str | None,
    plugin_file: Path | None,
) -> None:
    """Call a CNI plugin by hand: `cnilab cni ADD --netns demo --plugin plugin.py`."""
    plan = lab.require_plan()
    command = command.upper()
    try:
        the_node = plan.node(node)
    except ValueError as e:
        fail(str(e), Exit.USAGE)
    if plugin_file is not None and plugin_type is not None:
        fail("give --plugin (your file) or --type (a plugin of the lab), not both", Exit.USAGE)
    path = [plan.bin_dir]
    label = ""
    if plugin_file is not None:
        try:
            path.insert(0, str(student_bin_dir(plan, str(plugin_file))))
        except StudentPluginError as e:
            fail(str(e), Exit.USAGE)
        label = plugin_label(plugin_file)
    if netns and not NETNS_NAME_RE.match(netns) and not netns.startswith("/"):
        fail(f"--netns: {netns[:60]!r} is neither a namespace name nor a path", Exit.USAGE)
    runner = JournalingExec(RawExec(), Journal(plan.journal).sink(the_node.name))
    try:
        if conf_file is not None:
            conf = load_json(conf_file.read_bytes(), str(conf_file))
        else:
            net = select_network(the_node.conf_dir, path)
            conf = json.loads(build_plugin_config(net.plugins[0], net, net.cni_version, None, None))
        wanted = TYPE if plugin_file is not None else plugin_type or str(conf.get("type", ""))
        plugin = runner.find(wanted, path)
    except CNIError as e:
        fail(str(e), Exit.USAGE)
    if netns and "/" not in netns:
        netns = f"/run/netns/{netns}"
    rt = RuntimeConf(container_id or f"cnilab-{secrets.token_hex(6)}", netns or "", ifname)
    env = CNIConfig(path, the_node.cache_dir).env(command, rt if command != "VERSION" else None)
    stdin = json.dumps(conf, indent=2).encode()

    click.secho(f"# running {label or plugin} in {the_node.netns} with:", fg="cyan")
    for key, value in env.items():
        click.echo(f"{key}={value}")
    click.secho("# stdin:", fg="cyan")
    click.echo(stdin.decode())
    try:
        ex = runner.run(plugin_argv(plugin, the_node.netns_path), stdin, env, timeout=60)
    except CNIError as e:
        fail(str(e))
    click.secho(f"# exit {ex.returncode} after {ex.seconds * 1000:.1f} ms; stdout:", fg="cyan")
    click.echo(ex.stdout.decode(errors="replace").rstrip())
    if ex.stderr.strip():
        click.secho("# stderr:", fg="cyan")
        click.echo(ex.stderr.decode(errors="replace").rstrip())
    raise SystemExit(0 if ex.returncode == 0 else int(Exit.FAILED))

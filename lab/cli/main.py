"""`cnilab`: a click group whose commands are imported only when they run.

`cnilab status` must stay fast, and some commands pull in heavy libraries (scapy,
flask), so each command group lives in its own module (click's "complex" example).
"""

from __future__ import annotations

import importlib
import os
from enum import IntEnum
from pathlib import Path

import click

from lab.cluster.plan import DEFAULT_STATE_DIR, Plan, load_plan

COMMANDS = {
    "up": "lab.cli.cmd_lab:up",
    "down": "lab.cli.cmd_lab:down",
    "status": "lab.cli.cmd_lab:status",
    "pod": "lab.cli.cmd_pod:pod",
    "exec": "lab.cli.cmd_exec:exec_",
    "calls": "lab.cli.cmd_calls:calls",
    "cni": "lab.cli.cmd_cni:cni",
    "serve": "lab.cli.cmd_serve:serve",
    "trace": "lab.cli.cmd_trace:trace",
    "exercise": "lab.cli.cmd_exercise:exercise",
    "node": "lab.cli.cmd_node:node",
    "install": "lab.cli.cmd_install:install",
    "agent": "lab.cli.cmd_agent:agent",
}


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    NO_LAB = 3


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


class Lab:
    """What every command gets: where the lab's state lives, and its plan if it is up."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def plan(self) -> Plan | None:
        return load_plan(self.state_dir)

    def require_plan(self) -> Plan:
        plan = self.plan()
        if plan is None:
            fail("no lab is up: run `cnilab up` first", Exit.NO_LAB)
        return plan  # type: ignore[return-value]


def fail(message: str, code: int = Exit.FAILED) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    raise SystemExit(int(code))


pass_lab = click.make_pass_decorator(Lab)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("CNILAB_STATE_DIR", str(DEFAULT_STATE_DIR)),
    show_default="/run/cnilab or $CNILAB_STATE_DIR",
    help="Where the lab keeps its state.",
)
@click.version_option(package_name="cnilab")
@click.pass_context
def cli(ctx: click.Context, state_dir: Path) -> None:
    """cnilab: build a CNI plugin and watch pod networking happen in a two-node lab."""
    ctx.obj = Lab(state_dir)


def main() -> None:
    cli(prog_name="cnilab")


def read_token_file(path: Path) -> str:
    """The first line of a token file (`--token-file`), or a clear usage error."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        fail(f"--token-file: {e.strerror}: {path}", Exit.USAGE)
    token = lines[0].strip() if lines else ""
    if not token:
        fail(f"--token-file: {path} holds no token", Exit.USAGE)
    return token

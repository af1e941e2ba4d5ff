"""`cnilab calls`: the journal of CNI calls, as a runtime made them."""

from __future__ import annotations

import json
import time

import click

from lab.cli.main import Lab, pass_lab
from lab.runtime.journal import Journal


def _headline(rec: dict) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(rec["time"]))
    status = click.style("ok", fg="green") if rec["exit"] == 0 else click.style("FAILED", fg="red")
    who = f"{rec['container_id'][:12]}/{rec['ifname']}" if rec["container_id"] else "-"
    what = f"{rec['node']:6} {rec['plugin']:10} {rec['command']:6} {who:20}"
    return f"{when} {what} {rec['ms']:7.1f} ms  {status}"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Every field of every call.")
@click.option("--limit", default=20, show_default=True, help="How many recent calls (0: all).")
@click.option("-v", "--verbose", is_flag=True, help="Show env, stdin, stdout and stderr.")
@pass_lab
def calls(lab: Lab, as_json: bool, limit: int, verbose: bool) -> None:
    """Show the CNI calls the lab's runtime made: env, stdin, result, exit code, time."""
    records = Journal(lab.require_plan().journal).tail(limit)
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for rec in records:
        click.echo(_headline(rec))
        if verbose:
            for key, value in rec["env"].items():
                click.echo(f"    {key}={value}")
            click.echo("    stdin:  " + rec["stdin"])
            if rec["stdout"].strip():
                click.echo("    stdout: " + rec["stdout"].strip().replace("\n", "\n            "))
            if rec["stderr"].strip():
                click.echo("    stderr: " + rec["stderr"].strip())

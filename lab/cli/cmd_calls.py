"""`cnilab calls`: the journal of CNI calls, as a runtime made them."""

from __future__ import annotations

import json
import time

import click

from lab.cli.main import Lab, pass_lab
from lab.live.call_changes import call_key, read_changes
from lab.runtime.journal import Journal


def _headline(rec: dict) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(rec["time"]))
    status = click.style("ok", fg="green") if rec["exit"] == 0 else click.style("FAILED", fg="red")
    who = f"{rec['container_id'][:12]}/{rec['ifname']}" if rec["container_id"] else "-"
    what = f"{rec['node']:6} {rec['plugin']:10} {rec['command']:6} {who:20}"
    return f"{when} {what} {rec['ms']:7.1f} ms  {status}"


def _kernel(diff: dict | None) -> None:
    """What the call changed in the kernel, as the web app's watcher saw it."""
    if diff is None:
        click.secho(
            "    kernel: not watched (`cnilab serve` records each call's changes)", dim=True
        )
        return
    shared = " (calls overlapped: shared with them)" if diff.get("overlap") else ""
    click.echo(f"    kernel: {len(diff['changes'])} change(s){shared}")
    for c in diff["changes"]:
        sign = {"created": "+", "removed": "-"}.get(c["op"], "~")
        detail = f"  {c['detail']}" if c.get("detail") else ""
        line = f"      {sign} {c['kind']:9} {c['what']}  [{c['netns']}]{detail}"
        click.secho(line, fg={"+": "green", "-": "red"}.get(sign, "yellow"))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Every field of every call.")
@click.option("--limit", default=20, show_default=True, help="How many recent calls (0: all).")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show env, stdin, stdout, stderr and kernel changes."
)
@pass_lab
def calls(lab: Lab, as_json: bool, limit: int, verbose: bool) -> None:
    """Show the CNI calls the lab's runtime made: env, stdin, result, exit code, time."""
    journal = Journal(lab.require_plan().journal)
    records, diffs = journal.tail(limit), read_changes(journal)
    if as_json:
        click.echo(json.dumps([{**r, "kernel": diffs.get(call_key(r))} for r in records], indent=2))
        return
    for rec in records:
        click.echo(_headline(rec))
        if verbose:
            _kernel(diffs.get(call_key(rec)))
            for key, value in rec["env"].items():
                click.echo(f"    {key}={value}")
            click.echo("    stdin:  " + rec["stdin"])
            if rec["stdout"].strip():
                click.echo("    stdout: " + rec["stdout"].strip().replace("\n", "\n            "))
            if rec["stderr"].strip():
                click.echo("    stderr: " + rec["stderr"].strip())

"""`cnilab pod add --demo/--step` in the terminal: pycni's steps as the live layer
publishes them (lab.live.demo), printed while the pods are made; with --step, Enter
lets each paused step go on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click

from lab.live.demo import TOPIC, DemoSession
from lab.live.hub import Hub

T = TypeVar("T")
WAIT = 0.5


def describe(step: dict[str, Any], total: int = 0) -> list[str]:
    """A step as the terminal shows it: name and why, the commands, what it touched."""
    where = f"[{step['n']}]" if not total else f"[{step['n']}/{total}]"
    lines = [f"{where} {step['step']}: {step['says']}"]
    lines += [f"      $ {c}" for c in step["commands"]]
    touched = ", ".join(_object(o) for o in step["touched"])
    if touched:
        lines.append(f"      touched: {touched}")
    return lines


def _object(o: dict[str, str]) -> str:
    what = {
        "link": o.get("name", ""),
        "address": o.get("address", ""),
        "route": f"{o.get('dst', '')}{' via ' + o['via'] if o.get('via') else ''}",
        "rule": f"nft rule '{o.get('tag', '')}'",
        "netns": "",
    }.get(o.get("kind", ""), "")
    return f"{o.get('kind', '')} {what} ({o.get('netns', '')})".replace("  ", " ")


def run_with_echo(
    work: Callable[[DemoSession], T], delay: float, manual: bool, count: int = 1
) -> T:
    """Run `work(session)` in a thread, printing each step the hub gets; raise what it raised."""
    hub = Hub()
    outcome: dict[str, Any] = {}
    with DemoSession(hub.publish, delay, manual, count) as session:

        def target() -> None:
            try:
                outcome["value"] = work(session)
            except BaseException as e:  # handed to the caller's thread below
                outcome["error"] = e
            finally:
                session.finish(str(outcome.get("error", "")))

        worker = threading.Thread(target=target, name="cnilab-pod-add", daemon=True)
        worker.start()
        _echo(hub, manual, session)
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _echo(hub: Hub, manual: bool, session: DemoSession) -> None:
    version, printed, pod, interactive = 0, 0, "", manual
    while True:
        version, changed = hub.wait(version, WAIT)
        state = changed.get(TOPIC)
        if state is None:
            continue
        if state["pod"] != pod:
            pod, printed = state["pod"], 0
            if pod:
                of = f" ({state['index']}/{state['count']})" if state["count"] > 1 else ""
                click.secho(f"{pod} on {state['node']}{of}", bold=True)
        for step in state["steps"][printed:]:
            for line in describe(step):
                click.secho("  " + line, dim=not line.lstrip().startswith("["))
        printed = len(state["steps"])
        if state["done"]:
            return
        if state["waiting"]:
            if interactive:
                click.secho("  (Enter: next step)", fg="cyan", nl=False)
                if not click.get_text_stream("stdin").readline():
                    interactive = False  # no terminal: the rest goes on by itself
                click.echo()
            session.next()

"""The live topology source: the inspector's watcher, run for the web app.

One background thread (the hub's "topology" publisher) iterates `live_snapshots`: it owns the
inspector and its sockets; request threads only ever read the published dicts.
When the lab goes down or comes up again, the inspector is rebuilt for the new plan.
With node agents, it iterates `agent_snapshots` instead: their merged graphs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab.agent.client import AgentRef
from lab.cluster.plan import Plan, load_plan
from lab.inspect import Inspector, Watcher

IDLE = 0.5  # how often to look for a lab when none is up, or for a new plan


def empty_topology() -> dict[str, Any]:
    return {
        "directed": False,
        "multigraph": False,
        "graph": {},
        "nodes": [],
        "edges": [],
        "lab_up": False,
    }


def _plan_stamp(state_dir: str) -> float | None:
    try:
        return os.stat(Path(state_dir, "lab.json")).st_mtime
    except FileNotFoundError:
        return None


def _watch(plan: Plan, state_dir: str, stop: threading.Event) -> Iterator[dict[str, Any]]:
    stamp = _plan_stamp(state_dir)
    with Inspector(plan) as inspector, Watcher(inspector) as watcher:
        after = 0
        while not stop.is_set() and _plan_stamp(state_dir) == stamp:
            snap = watcher.wait(after, timeout=IDLE)
            if snap is None:
                if watcher.error is not None:
                    raise watcher.error
                continue
            after = snap.seq
            yield {**snap.to_dict(), "lab_up": True}


def live_snapshots(state_dir: str, stop: threading.Event) -> Iterator[dict[str, Any]]:
    published_empty = False
    while not stop.is_set():
        plan = load_plan(state_dir)
        if plan is None:
            if not published_empty:
                published_empty = True
                yield empty_topology()
            stop.wait(IDLE)
            continue
        published_empty = False
        yield from _watch(plan, state_dir, stop)


def agent_snapshots(
    agents: list[AgentRef], stop: threading.Event, long_poll: float
) -> Iterator[dict[str, Any]]:
    """The union of the agents' graphs, each node's namespaces under its node's name."""
    from lab.agent.follow import follow_agents

    yield from follow_agents(agents, stop, long_poll)

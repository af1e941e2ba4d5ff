"""The app's handle on the lab (flaskr's db.py pattern): one per app, reached via get_lab().

Views never touch sockets or namespaces: they call the runtime, and read topology
snapshots that a background thread publishes into a TopologyHub. With node agents
configured (AGENTS), that thread merges the agents' snapshots instead of inspecting
this host's namespaces, and traces are coordinated across the agents.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, current_app

from app.errors import APIError
from lab.agent.client import AgentRef, agent_refs
from lab.cluster.plan import Plan, load_plan
from lab.runtime.journal import Journal
from lab.runtime.pods import Runtime

Snapshot = dict[str, Any]
EXTENSION = "cnilab"


class TopologyHub:
    """The latest topology snapshot, and a way to wait for the next one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.version = 0
        self.latest: Snapshot | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def publish(self, snapshot: Snapshot) -> None:
        with self._cond:
            self.latest = snapshot
            self.version += 1
            self._cond.notify_all()

    def wait(self, after: int, timeout: float) -> tuple[int, Snapshot | None]:
        with self._cond:
            self._cond.wait_for(lambda: self.version > after or self._stop.is_set(), timeout)
            return self.version, self.latest

    def start(self, source: Callable[[threading.Event], Iterator[Snapshot]]) -> None:
        if self._thread is not None:
            return

        def run() -> None:
            for snapshot in source(self._stop):
                self.publish(snapshot)
                if self._stop.is_set():
                    return

        self._thread = threading.Thread(target=run, name="topology", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)


class LabHandle:
    def __init__(
        self,
        state_dir: str,
        source: str,
        agents: list[AgentRef] | None = None,
        agent_poll: float = 10.0,
    ) -> None:
        self.state_dir = state_dir
        self.hub = TopologyHub()
        self.source = source
        self.agents = agents or []
        self.agent_poll = agent_poll
        self._lock = threading.Lock()

    def plan(self) -> Plan | None:
        return load_plan(self.state_dir)

    def require_plan(self) -> Plan:
        plan = self.plan()
        if plan is None and self.agents:
            raise APIError(
                "this app shows node agents: make pods on the nodes (`cnilab node pod add`)", 409
            )
        if plan is None:
            raise APIError("no lab is up: run `cnilab up`", 409)
        return plan

    def runtime(self) -> Runtime:
        return Runtime(self.require_plan())

    def journal(self) -> Journal | None:
        plan = self.plan()
        return Journal(plan.journal) if plan else None

    def ensure_live(self) -> None:
        """Start the inspector thread on first use (not at import, not in tests)."""
        with self._lock:
            if self.source == "inspector" and self.hub._thread is None:
                from app.topology import agent_snapshots, live_snapshots

                if self.agents:
                    self.hub.start(lambda stop: agent_snapshots(self.agents, stop, self.agent_poll))
                else:
                    self.hub.start(lambda stop: live_snapshots(self.state_dir, stop))


def init_app(app: Flask) -> None:
    agents = agent_refs(app.config["AGENTS"])  # a bad setting fails here, not on first use
    poll = app.config["AGENT_POLL"]
    if not isinstance(poll, int | float) or not 0.1 <= poll <= 30:
        raise ValueError("AGENT_POLL must be a number of seconds from 0.1 to 30")
    app.extensions[EXTENSION] = LabHandle(
        app.config["STATE_DIR"], app.config["TOPOLOGY_SOURCE"], agents, float(poll)
    )


def get_lab() -> LabHandle:
    return current_app.extensions[EXTENSION]

"""The app's handle on the lab (flaskr's db.py pattern): one per app, reached via get_lab().

Views never touch sockets or namespaces: they call the runtime, and read what one
publisher thread per topic puts into the lab's Hub (lab.live): "topology" (the
inspector's snapshots) and "calls" (the journal's newest calls). With node agents
configured (AGENTS), the topology thread merges the agents' snapshots instead of
inspecting this host's namespaces, and traces are coordinated across the agents.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from app.errors import APIError
from lab.agent.client import AgentRef, agent_refs
from lab.cluster.plan import Plan, load_plan
from lab.live.hub import Hub
from lab.runtime.journal import Journal
from lab.runtime.pods import Runtime

EXTENSION = "cnilab"


class LabHandle:
    def __init__(
        self,
        state_dir: str,
        source: str,
        agents: list[AgentRef] | None = None,
        agent_poll: float = 10.0,
    ) -> None:
        self.state_dir = state_dir
        self.hub = Hub()
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
        """Start the publishers on first use (not at import; tests may go without)."""
        with self._lock:
            if not self.hub.following("calls"):
                from lab.live.calls import follow_calls

                self.hub.follow("calls", lambda stop: follow_calls(self.journal, stop))
            if self.source == "inspector" and not self.hub.following("kernel"):
                from lab.live.call_changes import follow_call_changes

                self.hub.follow(
                    "kernel", lambda stop: follow_call_changes(self.hub, self.journal, stop)
                )
            if self.source == "inspector" and not self.hub.following("topology"):
                from app.topology import agent_snapshots, live_snapshots
                from lab.live.topology_feed import feed

                if self.agents:
                    self.hub.follow(
                        "topology",
                        lambda stop: feed(agent_snapshots(self.agents, stop, self.agent_poll)),
                    )
                else:
                    self.hub.follow(
                        "topology", lambda stop: feed(live_snapshots(self.state_dir, stop))
                    )


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

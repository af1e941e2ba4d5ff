"""Follow several agents' snapshots and publish their union on every change.

One thread per agent long-polls its GET /v1/snapshot?after=SEQ&wait=S: the agent
answers as soon as its inspector publishes something newer (so a change shows as
fast as through its SSE stream), or with 204 after S seconds. A plain request per
change is simpler to stop and to recover than a stream: a failed one is retried
every RETRY seconds, and the agent's part is left out of the union meanwhile.

    for merged in follow_agents(refs, stop):   # e.g. the web app's topology thread
        publish(merged)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from lab.agent.client import AgentClient, AgentError, AgentRef
from lab.agent.merge import Part, merge_snapshots
from lab.live.hub import Hub

log = logging.getLogger(__name__)
LONG_POLL = 10.0  # seconds an agent may hold a request before saying "nothing new"
RETRY = 1.0
IDLE = 0.5  # how often the merging loop looks at `stop`


class Follower:
    """One hub topic per agent, published by that agent's long-poll thread; `changes`
    merges the latest part of each whenever one of them changed."""

    def __init__(self, refs: list[AgentRef], long_poll: float = LONG_POLL) -> None:
        self.refs = refs
        self.long_poll = long_poll
        self.hub = Hub()

    def start(self) -> Follower:
        for ref in self.refs:
            self.hub.follow(ref.name, lambda stop, ref=ref: self._parts_of(ref, stop))
        return self

    def stop(self, timeout: float = 0) -> None:
        """Ask the threads to end (each does once its current request returns), and wait
        up to `timeout` seconds for that."""
        self.hub.stop(timeout)

    def changes(self, stop: threading.Event) -> Iterator[dict]:
        """The merged graph now (once every agent answered or failed once), then on each change."""
        parts: dict[str, Part] = {}
        version = 0
        while not stop.is_set() and not self.hub.stopped:
            version, changed = self.hub.wait(version, IDLE)
            parts.update(changed)
            if changed and len(parts) == len(self.refs):
                yield merge_snapshots([parts[ref.name] for ref in self.refs], version)

    def _parts_of(self, ref: AgentRef, stop: threading.Event) -> Iterator[Part]:
        """The agent's snapshot each time it changes; an error part when it fails (once
        per distinct error), retried every RETRY seconds."""
        client = AgentClient(ref)
        after, last_error = 0, ""
        while not stop.is_set():
            try:
                snap = client.snapshot(after=after, wait=self.long_poll)
                if snap is not None:
                    after = int(snap["graph"]["seq"])
            except (AgentError, KeyError, TypeError, ValueError) as e:
                error = str(e) if isinstance(e, AgentError) else f"agent {ref.name}: bad snapshot"
                log.info("%s", error)
                if error != last_error:  # still down, for the same reason: nothing new
                    last_error = error
                    yield Part(ref, None, error)
                after = 0
                stop.wait(RETRY)
                continue
            if snap is not None:
                last_error = ""
                yield Part(ref, snap)


def follow_agents(
    refs: list[AgentRef], stop: threading.Event, long_poll: float = LONG_POLL
) -> Iterator[dict]:
    """Merged snapshots until `stop` is set; the polling threads end with the iteration
    (waited for as long as a long poll may take, so a stopped app leaves no request
    behind in an agent)."""
    follower = Follower(refs, long_poll).start()
    try:
        yield from follower.changes(stop)
    finally:
        follower.stop(timeout=long_poll + RETRY)

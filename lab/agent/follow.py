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

log = logging.getLogger(__name__)
LONG_POLL = 10.0  # seconds an agent may hold a request before saying "nothing new"
RETRY = 1.0
IDLE = 0.5  # how often the merging loop looks at `stop`
UNREACHED = "not reached yet"


class Follower:
    def __init__(self, refs: list[AgentRef], long_poll: float = LONG_POLL) -> None:
        self.refs = refs
        self.long_poll = long_poll
        self._parts = {ref.name: Part(ref, None, UNREACHED) for ref in refs}
        self._version = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Follower:
        for ref in self.refs:
            thread = threading.Thread(
                target=self._follow, args=(ref,), name=f"cnilab-follow-{ref.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 0) -> None:
        """Ask the threads to end (each does once its current request returns), and wait
        up to `timeout` seconds for that."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def changes(self, stop: threading.Event) -> Iterator[dict]:
        """The merged graph now (once every agent answered or failed once), then on each change."""
        version = 0

        def news() -> bool:
            return self._version > version and self._everyone_tried()

        while not stop.is_set() and not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: news() or self._stop.is_set(), IDLE)
                if not news():
                    continue
                version = self._version
                parts = [self._parts[ref.name] for ref in self.refs]
            yield merge_snapshots(parts, version)

    def _everyone_tried(self) -> bool:
        return all(p.snapshot is not None or p.error != UNREACHED for p in self._parts.values())

    def _update(self, part: Part) -> None:
        with self._cond:
            before = self._parts[part.ref.name]
            if before.snapshot is None and part.snapshot is None and before.error == part.error:
                return  # still down, for the same reason
            self._parts[part.ref.name] = part
            self._version += 1
            self._cond.notify_all()

    def _follow(self, ref: AgentRef) -> None:
        client = AgentClient(ref)
        after = 0
        while not self._stop.is_set():
            try:
                snap = client.snapshot(after=after, wait=self.long_poll)
                if snap is not None:
                    after = int(snap["graph"]["seq"])
            except (AgentError, KeyError, TypeError, ValueError) as e:
                error = str(e) if isinstance(e, AgentError) else f"agent {ref.name}: bad snapshot"
                log.info("%s", error)
                self._update(Part(ref, None, error))
                after = 0
                self._stop.wait(RETRY)
                continue
            if snap is not None:
                self._update(Part(ref, snap))


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

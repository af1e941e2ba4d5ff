"""A hub: the latest value of each topic, one version that counts every publish, and a
way for any number of readers to wait for what changed since the version they saw.

One publisher thread per topic iterates a source (the inspector's snapshots, the
journal's newest calls) and publishes what it yields; every reader (each SSE client,
each `/api/topology` request) only waits on the hub's condition. So a hundred open
event streams cost one watcher, not a hundred pollers.

    hub.follow("topology", live_snapshots)     # source(stop) -> Iterator[value]
    version, changed = hub.wait(0, timeout=15)  # {"topology": ...}: all there is
    version, changed = hub.wait(version, 15)    # only topics published since
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)
Source = Callable[[threading.Event], Iterator[Any]]
RESTART = 1.0  # seconds before a failed source is started again


class Hub:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._topics: dict[str, tuple[int, Any]] = {}
        self.version = 0
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def publish(self, topic: str, value: Any) -> None:
        with self._cond:
            self.version += 1
            self._topics[topic] = (self.version, value)
            self._cond.notify_all()

    def wait(self, after: int, timeout: float) -> tuple[int, dict[str, Any]]:
        """(the version now, each topic published after `after` with its latest value);
        empty when nothing came within `timeout` seconds or the hub stopped."""
        with self._cond:
            self._cond.wait_for(lambda: self.version > after or self._stop.is_set(), timeout)
            changed = {t: value for t, (v, value) in self._topics.items() if v > after}
            return self.version, changed

    def get(self, topic: str, timeout: float) -> Any | None:
        """The topic's latest value, waiting up to `timeout` seconds for a first one."""
        with self._cond:
            self._cond.wait_for(lambda: topic in self._topics or self._stop.is_set(), timeout)
            found = self._topics.get(topic)
            return found[1] if found else None

    def following(self, topic: str) -> bool:
        return topic in self._threads

    def follow(self, topic: str, source: Source) -> None:
        """Publish what `source(stop)` yields under `topic`, in a thread of its own (once
        per topic); a source that fails is logged and started again."""
        if topic in self._threads:
            return

        def run() -> None:
            while not self._stop.is_set():
                try:
                    for value in source(self._stop):
                        self.publish(topic, value)
                        if self._stop.is_set():
                            return
                except Exception:
                    log.exception("the %s source failed; starting it again", topic)
                self._stop.wait(RESTART)

        thread = threading.Thread(target=run, name=f"cnilab-hub-{topic}", daemon=True)
        self._threads[topic] = thread
        thread.start()

    def stop(self, timeout: float = 5) -> None:
        """Stop the publishers (each once its source yields or looks at `stop`), and wake
        every reader."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads.values():
            thread.join(timeout)

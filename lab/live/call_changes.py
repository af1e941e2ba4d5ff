"""A kernel diff per CNI call: what each call in the journal created, changed or removed.

The watcher publishes a snapshot each time the kernel changes ("topology" on the hub);
the journal says when each call started and ended. So a call's changes are those
between the last snapshot taken before it started and the last one taken before the
next call started (or `SETTLE` seconds after it ended: the watcher needs a moment to
see the last change). Calls that overlap share what changed while both ran; such a
diff is marked "overlap".

`follow_call_changes(hub, journal_of, stop)` is the hub's "kernel" source: it yields
{call key: {"changes": [...], "overlap": bool}} for the newest calls, and appends each
diff to the journal's side file so `cnilab calls -v` shows them too. Only calls made
while something watched (the web app) have one.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lab.live.hub import Hub
from lab.live.kernel_diff import kernel_changes
from lab.runtime.journal import Journal

SETTLE = 1.0  # seconds after a call's end its last change may take to be seen
HISTORY = 256  # snapshots kept to look back to a call's start
SHOWN = 50  # calls whose diffs are published
SIDE_FILE = "kernel-changes.jsonl"
WAIT = 0.5


def call_key(r: dict[str, Any]) -> str:
    """A call's identity, as the page's transcript makes it (static/js/transcript.js)."""
    when = r.get("time")
    if isinstance(when, float) and when.is_integer():
        when = int(when)  # as JavaScript writes it: 5, not 5.0
    parts = (when, r.get("node"), r.get("network"), r.get("plugin"), r.get("command"))
    return "|".join(str(p) for p in (*parts, r.get("container_id"), r.get("ifname")))


def side_file(journal: Journal) -> Path:
    return journal.path.with_name(SIDE_FILE)


def read_changes(journal: Journal) -> dict[str, dict[str, Any]]:
    """Every recorded diff by call key (the last one wins)."""
    found: dict[str, dict[str, Any]] = {}
    try:
        with side_file(journal).open() as f:
            for line in f:
                try:
                    item = json.loads(line)
                    found[str(item["key"])] = {k: v for k, v in item.items() if k != "key"}
                except (ValueError, KeyError, TypeError):
                    continue
    except FileNotFoundError:
        pass
    return found


def _span(r: dict[str, Any]) -> tuple[float, float]:
    end = float(r.get("time", 0))
    return end - float(r.get("ms", 0)) / 1000, end


class CallDiffer:
    """The snapshots seen lately and the calls whose diff is still to be made."""

    def __init__(self) -> None:
        self.times: deque[float] = deque(maxlen=HISTORY)
        self.snapshots: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.pending: dict[str, dict[str, Any]] = {}
        self.done: dict[str, dict[str, Any]] = {}

    def snapshot(self, snap: dict[str, Any]) -> None:
        taken = float(snap.get("graph", {}).get("taken_at", 0))
        if self.times and taken < self.times[-1]:
            return
        self.times.append(taken)
        self.snapshots.append(snap)

    def calls(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            key = call_key(r)
            if key not in self.done and r.get("command") in ("ADD", "DEL", "CHECK", "GC"):
                self.pending[key] = r

    def _at(self, when: float) -> dict[str, Any] | None:
        i = bisect.bisect_right(list(self.times), when)
        return self.snapshots[i - 1] if i else None

    def ready(self, now: float) -> dict[str, dict[str, Any]]:
        """Diffs of the pending calls that have settled; calls from before the first
        snapshot (nothing was watching then) are dropped."""
        out: dict[str, dict[str, Any]] = {}
        starts = sorted(_span(r)[0] for r in self.pending.values())
        for key, r in sorted(self.pending.items(), key=lambda kv: _span(kv[1])[0]):
            start, end = _span(r)
            if now < end + SETTLE:
                continue
            del self.pending[key]
            before = self._at(start)
            if before is None:
                continue
            later = [s for s in starts if s > start]
            stop = min([end + SETTLE, *later])
            overlap = any(start < s < end for s in later)
            after = self._at(stop) or before
            out[key] = {"changes": kernel_changes(before, after), "overlap": overlap}
        self.done.update(out)
        while len(self.done) > SHOWN:
            self.done.pop(next(iter(self.done)))
        return out


def _append(journal: Journal | None, diffs: dict[str, dict[str, Any]]) -> None:
    if journal is None or not diffs:
        return
    lines = "".join(
        json.dumps({"key": k, **v}, separators=(",", ":")) + "\n" for k, v in diffs.items()
    )
    fd = os.open(side_file(journal), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, lines.encode())
    finally:
        os.close(fd)


def follow_call_changes(
    hub: Hub, journal_of: Callable[[], Journal | None], stop: threading.Event
) -> Iterator[dict[str, dict[str, Any]]]:
    """The hub's "kernel" source: reads its "topology" and "calls" topics."""
    differ = CallDiffer()
    version = 0
    while not stop.is_set():
        version, changed = hub.wait(version, WAIT)
        topology = changed.get("topology")
        if topology is not None:
            differ.snapshot(getattr(topology, "snapshot", topology))
        if isinstance(changed.get("calls"), list):
            differ.calls(changed["calls"])
        fresh = differ.ready(time.time())
        if fresh:
            _append(journal_of(), fresh)
            yield dict(differ.done)

"""A kernel diff per CNI call: what each call in the journal created, changed or removed.

The watcher publishes a snapshot each time the kernel changes ("topology" on the hub);
the journal says when each call started and ended. So a call's changes are those
between the last snapshot taken before it started and the last one taken by `SETTLE`
seconds after it ended (the watcher needs a moment to see the last change), or before
the next call on the same container started (a DEL undoes its ADD).
Back-to-back calls share such windows, so each call keeps only what can be its own:
its pod's namespace, and in its node's namespace what is not another pod's (a veth
whose peer, or an FDB entry whose port, leads into another pod). What is left and was
seen while another call ran too (the bridge, a neighbour) is marked "overlap".

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
HORIZON = 600.0  # seconds a container's calls are remembered for the next one's window
LATE = 0.5  # seconds a finished call may take to reach the journal's follower
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


def _where(snaps: tuple[dict[str, Any], ...]) -> tuple[dict[str, dict], dict[str, str]]:
    """The namespaces by name, and each interface's peer, over the given snapshots."""
    spaces: dict[str, dict] = {}
    peers: dict[str, str] = {}
    for snap in snaps:
        for n in snap.get("nodes", []):
            if n.get("type") == "namespace":
                spaces[str(n.get("name"))] = n
            elif n.get("peer"):
                peers[str(n["id"])] = str(n["peer"])
    return spaces, peers


def _owned(change: dict[str, Any], r: dict[str, Any], *snaps: dict[str, Any]) -> bool:
    """Whether the call `r` can have made `change` (see the module's docstring)."""
    spaces, peers = _where(snaps)
    pod_ns = os.path.basename(str(r.get("env", {}).get("CNI_NETNS", "")))
    if change["netns"] == pod_ns:
        return True
    space = spaces.get(change["netns"], {})
    if space.get("kind") != "node" or space.get("node") != r.get("node"):
        return False
    peer = peers.get(str(change.get("ref") or ""), "")
    peer_ns = peer.split(":", 2)[1] if peer.count(":") >= 2 else ""
    return not (peer_ns != pod_ns and spaces.get(peer_ns, {}).get("kind") == "pod")


def _span(r: dict[str, Any]) -> tuple[float, float]:
    end = float(r.get("time", 0))
    return end - float(r.get("ms", 0)) / 1000, end


class CallDiffer:
    """The snapshots seen lately and the calls whose diff is still to be made."""

    def __init__(self) -> None:
        self.times: deque[float] = deque(maxlen=HISTORY)
        self.snapshots: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.pending: dict[str, dict[str, Any]] = {}
        self.starts: dict[str, list[float]] = {}  # container ID -> its calls' starts
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
            if key in self.done or key in self.pending:
                continue
            if r.get("command") in ("ADD", "DEL", "CHECK", "GC"):
                self.pending[key] = r
                self.starts.setdefault(str(r.get("container_id")), []).append(_span(r)[0])

    def _at(self, when: float) -> dict[str, Any] | None:
        i = bisect.bisect_right(list(self.times), when)
        return self.snapshots[i - 1] if i else None

    def ready(self, now: float) -> dict[str, dict[str, Any]]:
        """Diffs of the pending calls that have settled; calls from before the first
        snapshot (nothing was watching then) are dropped."""
        out: dict[str, dict[str, Any]] = {}
        spans = [_span(r) for r in self.pending.values()]
        for key, r in sorted(self.pending.items(), key=lambda kv: _span(kv[1])[0]):
            start, end = _span(r)
            if now < end + SETTLE + LATE:
                continue
            del self.pending[key]
            before = self._at(start)
            if before is None:
                continue
            overlap = sum(1 for a, b in spans if a < end and b > start) > 1
            # up to the next call on the same container (a DEL undoes its ADD)
            nexts = [s for s in self.starts.get(str(r.get("container_id")), []) if s > start]
            after = self._at(min([end + SETTLE, *nexts])) or before
            changes = [c for c in kernel_changes(before, after) if _owned(c, r, before, after)]
            out[key] = {"changes": changes, "overlap": overlap}
        self.done.update(out)
        for cid in [c for c, starts in self.starts.items() if max(starts) < now - HORIZON]:
            del self.starts[cid]
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

"""One probe's capture, in phases: arm the sniffers, (send), collect the probe's frames.

The embedded tracer runs the phases in one call; a node agent runs them across HTTP
requests, so that a coordinator can arm the sniffers of every node before the probe
leaves one of them:

    capture = Capture(namespaces, probe)   # arm: sniffers open, stale frames dropped
    probe.send(src_netns)                  # send (on the source pod's node only)
    capture.collect(deadline)              # collect: until the reply is home, or the deadline
    capture.close()

`poll` may also be called from a reader thread of its own (the agent does, so that
nothing piles up in the socket buffers between its requests); only that thread
classifies, so the probe's learnt TCP sequence number is never raced.
"""

from __future__ import annotations

import threading
import time

from lab.trace.capture import Frame, Sniffers
from lab.trace.packets import REPLY, Seen, classify
from lab.trace.probe import Probe

SETTLE = 0.05  # after the reply: frames of the last hops still in the sockets
READ_SLICE = 0.05  # the longest one read blocks, so a deadline is never overshot by more


class Capture:
    """Sniffers armed for one probe, and the probe's frames they have seen so far."""

    def __init__(self, namespaces: list[str], probe: Probe) -> None:
        self.probe = probe
        self.seen: list[tuple[Frame, Seen]] = []
        self.home = ""  # where the probe was sent from: its reply ends there
        self.replied_at: float | None = None  # time.monotonic() when the reply came home
        self.reply_seen = threading.Event()
        self._sniffers = Sniffers(namespaces)
        self._sniffers.drain()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def replied(self) -> bool:
        return self.replied_at is not None

    def poll(self, timeout: float) -> None:
        """Read what the sniffers have (waiting up to `timeout`) and keep the probe's frames."""
        for frame in self._sniffers.read(timeout):
            hit = classify(frame.data, self.probe)
            if hit is None:
                continue
            self.seen.append((frame, hit))
            back_home = hit.leg == REPLY and frame.netns == self.home
            if back_home and not frame.outgoing and self.replied_at is None:
                self.replied_at = time.monotonic()
                self.reply_seen.set()

    def collect(self, deadline: float, settle: float = SETTLE) -> None:
        """Poll until the reply is home (and `settle` more seconds) or `deadline` (monotonic)."""
        while True:
            now = time.monotonic()
            limit = self.replied_at + settle if self.replied_at is not None else deadline
            if now >= limit:
                return
            self.poll(min(limit - now, READ_SLICE))

    def close(self) -> None:
        self._sniffers.close()

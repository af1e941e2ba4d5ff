"""Armed captures of one agent, between the coordinator's requests: arm, send, collect.

Each armed capture (lab.trace.session.Capture) gets a reader thread that keeps its
packet sockets drained while the coordinator goes from one agent to the next, so no
frame is lost to a full socket buffer on a busy node. A capture nobody collects is
closed by its own reader thread when its time is up: an abandoned trace (the app
died, the network failed) leaks no socket and no thread. At most `max_open` captures
are open at once, each a packet socket per namespace: the cap counts those being
opened, armed, and being collected (a collect holds its sockets while it waits).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.trace.capture import Frame
from lab.trace.packets import Seen
from lab.trace.probe import Probe
from lab.trace.session import READ_SLICE, SETTLE, Capture

log = logging.getLogger(__name__)

MAX_OPEN = 8
DEFAULT_TTL = 15.0  # seconds an armed capture lives unless collected
MAX_TTL = 60.0


class CaptureError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Armed:
    id: str
    capture: Capture
    expires: float  # time.monotonic()
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)  # send vs collect
    taken: bool = False  # being collected: its time no longer runs out
    closed: bool = False
    sent_at: float | None = None
    thread: threading.Thread | None = None

    def close(self) -> None:
        """Close the probe's and the sniffers' sockets (once; call it holding `lock`)."""
        if not self.closed:
            self.closed = True
            self.capture.probe.close()
            self.capture.close()


@dataclass(frozen=True)
class Collected:
    frames: list[tuple[Frame, Seen]]
    replied: bool
    sent_at: float | None


class Captures:
    def __init__(self, max_open: int = MAX_OPEN) -> None:
        self.max_open = max_open
        self._open: dict[str, Armed] = {}
        self._opening = 0  # arms whose sockets are being opened
        self._collecting = 0  # taken out of _open by collect, sockets still open
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return self._count()

    def _count(self) -> int:
        return len(self._open) + self._opening + self._collecting

    def arm(self, namespaces: list[str], probe: Probe, ttl: float = DEFAULT_TTL) -> str:
        if not 0 < ttl <= MAX_TTL:
            raise CaptureError(f"'ttl' must be more than 0 and at most {MAX_TTL:g} seconds")
        with self._lock:
            if self._count() >= self.max_open:
                raise CaptureError(f"{self.max_open} captures are open already; retry later", 503)
            self._opening += 1
        try:
            armed = Armed(secrets.token_hex(8), Capture(namespaces, probe), time.monotonic() + ttl)
        except BaseException:
            with self._lock:
                self._opening -= 1
            raise
        armed.thread = threading.Thread(
            target=self._read, args=(armed,), name=f"cnilab-capture-{armed.id}", daemon=True
        )
        with self._lock:
            self._opening -= 1
            self._open[armed.id] = armed
        try:
            armed.thread.start()
        except BaseException:
            with self._lock:
                self._open.pop(armed.id, None)
            armed.close()
            raise
        return armed.id

    def send(self, cid: str, where: str, allow: Callable[[Probe], None]) -> float:
        """Send the capture's probe from namespace `where`, once `allow(probe)` has not
        raised; the wall-clock time it left."""
        armed = self._get(cid)
        with armed.lock:
            if armed.closed:
                raise CaptureError(f"capture {cid!r} expired", 404)
            if armed.sent_at is not None:
                raise CaptureError("this capture's probe was sent already", 409)
            allow(armed.capture.probe)
            armed.capture.home = where
            armed.capture.probe.send(where)
            armed.sent_at = armed.capture.probe.sent_at
        return armed.sent_at

    def collect(self, cid: str, until_reply: bool, timeout: float) -> Collected:
        """The probe's frames: with `until_reply`, once its reply is home (and a settle for
        the last hops' frames), or after `timeout` seconds; else after `timeout` seconds
        (0: what was seen until now; a node the reply passed has queued its frames by
        the time the reply is home). The capture is closed afterwards."""
        armed = self._take(cid)
        try:
            return self._collect(armed, until_reply, timeout)
        finally:
            with self._lock:
                self._collecting -= 1

    def _collect(self, armed: Armed, until_reply: bool, timeout: float) -> Collected:
        with armed.lock:
            try:
                if until_reply and armed.capture.reply_seen.wait(timeout):
                    armed.stop.wait(SETTLE)
                elif not until_reply:
                    armed.stop.wait(timeout)
                armed.stop.set()
                if armed.thread is not None:
                    armed.thread.join()
                armed.capture.poll(0.0)  # the reader has ended: this thread may read now
                return Collected(list(armed.capture.seen), armed.capture.replied, armed.sent_at)
            finally:
                armed.close()

    def cancel(self, cid: str) -> bool:
        with self._lock:
            armed = self._open.pop(cid, None)
        if armed is None:
            return False
        self._stop(armed)
        return True

    def close(self) -> None:
        """Close every open capture (the agent is stopping)."""
        with self._lock:
            every = list(self._open.values())
            self._open.clear()
        for armed in every:
            self._stop(armed)

    def _stop(self, armed: Armed) -> None:
        armed.stop.set()
        if armed.thread is not None:
            armed.thread.join()
        with armed.lock:
            armed.close()

    def _get(self, cid: str) -> Armed:
        with self._lock:
            armed = self._open.get(cid)
        if armed is None:
            raise CaptureError(f"no capture {cid!r} (collected, cancelled or expired)", 404)
        return armed

    def _take(self, cid: str) -> Armed:
        with self._lock:
            armed = self._open.pop(cid, None)
            if armed is None:
                raise CaptureError(f"no capture {cid!r} (collected, cancelled or expired)", 404)
            armed.taken = True
            self._collecting += 1
        return armed

    def _read(self, armed: Armed) -> None:
        """The reader thread: poll until stopped, or until the capture's time is up."""
        try:
            while not armed.stop.is_set():
                if not armed.taken and time.monotonic() >= armed.expires:
                    break
                armed.capture.poll(READ_SLICE)
        except Exception:
            log.exception("capture %s: reading failed", armed.id)
        with self._lock:
            expired = self._open.get(armed.id) is armed
            if expired:
                del self._open[armed.id]
        if expired:
            log.info("capture %s expired uncollected: closed", armed.id)
            with armed.lock:
                armed.close()

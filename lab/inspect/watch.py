"""Live updates: a background thread that re-reads what changed and publishes snapshots.

    watcher = Watcher(Inspector(plan)).start()
    for snap in watcher.changes(timeout=15):   # e.g. in a Flask SSE generator
        yield f"data: {snap.to_json()}\\n\\n"

What wakes it: netlink notifications on every namespace's socket (links, ARP and
FDB entries, IPv4 addresses and routes), inotify on /run/netns and the pod records'
folder, and a cheap rescan every `rescan` seconds for what inotify cannot see (a
namespace mounted on a file created earlier). Bursts are debounced: it reads once
the changes have been quiet for `debounce` seconds, or `max_delay` after the first.
Both are short (5 and 30 ms): a refresh costs a few milliseconds (one namespace read
again, the graph rebuilt from cached parts), so a change should show at once; what
comes during a refresh is read by the next one. Only the namespaces that reported a
change (and new ones) are read again, and only what their notifications were about
(read.py), and a snapshot is published only if something differs from the last one.

The watcher's thread owns the inspector while it runs; consumers (web request
threads) only read published, immutable snapshots.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator

from lab.inspect.graph import Snapshot
from lab.inspect.inspector import Inspector
from lab.inspect.namespaces import NetnsKey
from lab.inspect.netlink import EVERYTHING
from lab.inspect.nft import MASQUERADE

log = logging.getLogger(__name__)

IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
RETRY_AFTER = 1.0  # seconds, after a failed refresh
DIR_EVENTS = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE


class DirWatch:
    """inotify on a few folders: wakes up when an entry is made, removed or rewritten."""

    def __init__(self, dirs: list[str]) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._dirs = list(dirs)
        self._watched: dict[int, str] = {}  # watch descriptor -> folder
        self.ensure()

    def fileno(self) -> int:
        return self._fd

    def ensure(self) -> None:
        """Watch the folders that exist by now (a lab may create them later)."""
        for d in self._dirs:
            if d in self._watched.values() or not os.path.isdir(d):
                continue
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(d), DIR_EVENTS)
            if wd >= 0:
                self._watched[wd] = d

    def drain(self) -> set[tuple[str, str]] | None:
        """(folder, entry name) of each event since the last drain; None when the
        kernel's queue overflowed or a folder went (anything may have changed)."""
        seen: set[tuple[str, str]] = set()
        overflow = False
        try:
            while data := os.read(self._fd, 65536):
                pos = 0
                while pos + _EVENT.size <= len(data):
                    wd, mask, _, length = _EVENT.unpack_from(data, pos)
                    name = data[pos + _EVENT.size : pos + _EVENT.size + length]
                    pos += _EVENT.size + length
                    overflow = overflow or bool(mask & (IN_Q_OVERFLOW | IN_IGNORED))
                    if mask & IN_IGNORED:  # the folder went: watch it again once it is back
                        self._watched.pop(wd, None)
                    elif wd in self._watched:
                        seen.add((self._watched[wd], os.fsdecode(name.split(b"\0", 1)[0])))
        except BlockingIOError:
            pass
        return None if overflow else seen

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Watcher:
    def __init__(
        self,
        inspector: Inspector,
        *,
        debounce: float = 0.005,
        max_delay: float = 0.03,
        rescan: float = 0.2,
    ) -> None:
        self.inspector = inspector
        self.debounce = debounce
        self.max_delay = max_delay
        self.rescan = rescan
        self.error: BaseException | None = None
        self._latest: Snapshot | None = None
        self._cond = threading.Condition()
        self._callbacks: list[Callable[[Snapshot], None]] = []
        self._stop = threading.Event()
        self._done = threading.Event()  # the thread has ended (stopped or failed)
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Watcher:
        if self._thread is not None:
            raise RuntimeError("the watcher is already started")
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._run, name="cnilab-inspect-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        if self._thread is None:
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout)
        self._thread = None
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._wake_r, self._wake_w = -1, -1

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def latest(self) -> Snapshot | None:
        return self._latest

    def wait(self, after: int = 0, timeout: float | None = None) -> Snapshot | None:
        """The newest snapshot with `seq > after`, waiting for one; None on timeout or stop."""

        def ready() -> bool:
            newer = self._latest is not None and self._latest.seq > after
            return newer or self._done.is_set()

        with self._cond:
            self._cond.wait_for(ready, timeout)
            snap = self._latest
        return snap if snap is not None and snap.seq > after else None

    def changes(self, timeout: float | None = None, after: int = 0) -> Iterator[Snapshot]:
        """Each new snapshot (the current one first, unless `after` is its seq or later).

        Ends when nothing new comes for `timeout` seconds or the watcher stops. A slow
        reader skips intermediate snapshots: it always gets the newest.
        """
        while (snap := self.wait(after, timeout)) is not None:
            after = snap.seq
            yield snap

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot | None:
        """The first published snapshot (the current one included) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        after = 0
        while (left := deadline - time.monotonic()) > 0:
            snap = self.wait(after, left)
            if snap is None:
                return None
            if predicate(snap):
                return snap
            after = snap.seq
        return None

    def on_change(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `callback(snapshot)` in the watcher's thread on each publication."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def _publish(self, snap: Snapshot) -> None:
        if snap is self._latest:  # the inspector found nothing new
            return
        with self._cond:
            self._latest = snap
            self._cond.notify_all()
        for callback in list(self._callbacks):
            try:
                callback(snap)
            except Exception:
                log.exception("snapshot callback %r failed", callback)

    @staticmethod
    def _concerns(inspector: Inspector, events: set[tuple[str, str]] | None) -> bool:
        """Whether folder events may change what is inspected: any pod record, or a
        namespace it wants (others' namespaces, e.g. a test suite's, come and go)."""
        if events is None:
            return True
        return any(d != inspector.netns_dir or inspector.wants(name) for d, name in events)

    def _run(self) -> None:
        inspector = self.inspector
        dirs = DirWatch(inspector.watch_dirs())
        try:
            inspector.listen()
            inspector.add_reader(dirs.fileno())
            inspector.add_reader(self._wake_r)
            try:
                self._loop(inspector, dirs)
            finally:
                inspector.remove_reader(dirs.fileno())
                inspector.remove_reader(self._wake_r)
        except BaseException as e:
            self.error = e
            log.exception("the inspector's watcher stopped")
        finally:
            dirs.close()
            self._done.set()
            with self._cond:
                self._cond.notify_all()

    def _loop(self, inspector: Inspector, dirs: DirWatch) -> None:
        fingerprint = inspector.fingerprint()
        next_scan = time.monotonic() + self.rescan
        changed: dict[NetnsKey, frozenset[str]] = {}
        rescan = True  # namespaces or pod records may have come or gone
        first = last = time.monotonic() - self.max_delay  # the first reading is due now
        while not self._stop.is_set():
            now = time.monotonic()
            if first:
                timeout = min(last + self.debounce, first + self.max_delay) - now
            else:
                timeout = next_scan - now
            keys, ready = inspector.wait_events(max(timeout, 0))
            now = time.monotonic()
            news = bool(keys)
            if dirs.fileno() in ready and self._concerns(inspector, dirs.drain()):
                news = rescan = True
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if now >= next_scan:
                next_scan = now + self.rescan
                dirs.ensure()
                if (current := inspector.fingerprint()) != fingerprint:
                    fingerprint = current
                    news = rescan = True
            if news:
                for key, about in keys.items():
                    changed[key] = changed.get(key, frozenset()) | about
                first = first or now
                last = now
            if first and (now - last >= self.debounce or now - first >= self.max_delay):
                try:
                    snap = inspector.refresh(changed, rescan=rescan)
                except Exception as e:  # e.g. out of fds: say so, retry everything soon
                    log.exception("refreshing the snapshot failed")
                    self.error = e
                    self._stop.wait(RETRY_AFTER)
                    changed = dict.fromkeys(inspector.keys(), EVERYTHING | {MASQUERADE})
                    rescan = True
                    continue
                self.error = None
                if rescan:
                    fingerprint = inspector.fingerprint()
                rescan = False
                changed.clear()
                first = last = 0.0
                self._publish(snap)

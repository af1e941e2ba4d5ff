"""Slow motion, the runtime's end: pycni's step events, received and published live.

A `DemoSession` owns the demo channel for one `pod add` (one pod or a batch): a
SOCK_SEQPACKET unix socket in a private folder (0700, removed at close), whose path
goes to the plugin in the `demo` capability arg. pycni (lab/pycni/demo.py) sends one
JSON event per finished step; the session resolves the objects it touched to graph
ids (`ns:<netns>`, `if:<netns>:<ifname>`) and publishes the session's state under
the hub's "demo" topic, for the CLI to print and the page to draw. In manual mode
pycni waits after each step until `next()` (Enter in the CLI, Next on the page); a
step nobody advances goes on by itself after `auto_next` seconds.

The topic's value is the whole state, not one event (a hub keeps only the latest
value of a topic, so a reader that looks late still sees every step of the pod):

    {"session", "manual", "delay", "pod", "node", "index", "count", "waiting",
     "done", "error", "steps": [event, ...]}   # the current pod's steps, in order
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import select
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
TOPIC = "demo"
NEXT = b"next"
MESSAGE_MAX = 64 * 1024
AUTO_NEXT = 300.0  # seconds a manual step waits for Next before going on by itself
TICK = 0.2  # how often the session's thread looks at its stop flag
FIELDS_MAX = 64  # touched objects or commands kept from one event
TEXT_MAX = 512


def _text(value: Any) -> str:
    return str(value)[:TEXT_MAX] if isinstance(value, str | int | float) else ""


def resolve(touched: list[Any], node_netns: str, pod_netns: str) -> tuple[list[dict], list[str]]:
    """pycni's touched objects (where: "node" or "pod") with their namespace's name, and
    the graph ids they light up: the interface when one is named, else the namespace."""
    objects, ids = [], []
    for item in touched[:FIELDS_MAX]:
        if not isinstance(item, dict):
            continue
        obj = {k: _text(v) for k, v in item.items() if isinstance(k, str)}
        netns = pod_netns if obj.get("in") == "pod" else node_netns
        obj["netns"] = netns
        dev = obj.get("name") if obj.get("kind") == "link" else obj.get("link")
        graph_id = f"if:{netns}:{dev}" if dev else f"ns:{netns}"
        objects.append(obj)
        if graph_id not in ids:
            ids.append(graph_id)
    return objects, ids


def _private_dir() -> str:
    base = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="cnilab-demo-", dir=base)  # mode 0700


class DemoSession:
    """One slow-motion run (a pod or a batch); use as a context manager."""

    def __init__(
        self,
        publish: Callable[[str, Any], None],
        delay: float = 0.0,
        manual: bool = False,
        count: int = 1,
        auto_next: float = AUTO_NEXT,
    ) -> None:
        self.publish_to = publish
        self.id = secrets.token_hex(8)
        self.delay = delay
        self.manual = manual
        self.auto_next = auto_next
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dir = _private_dir()
        self.path = os.path.join(self._dir, "events.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self._listener.bind(self.path)
        self._listener.listen(8)
        self._conns: list[socket.socket] = []
        self._waiting: tuple[socket.socket, float] | None = None
        self.state: dict[str, Any] = {
            "session": self.id,
            "manual": manual,
            "delay": delay,
            "pod": "",
            "node": "",
            "index": 0,
            "count": count,
            "waiting": False,
            "done": False,
            "error": "",
            "steps": [],
        }
        self._netns = ("", "")
        self._thread = threading.Thread(target=self._serve, name="cnilab-demo", daemon=True)
        self._thread.start()

    def __enter__(self) -> DemoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the runtime asks ---------------------------------------------------------
    def capability(self, pod: str, node: str, node_netns: str, pod_netns: str) -> dict[str, Any]:
        """The `demo` capability arg for the next call, which is pod `pod`'s ADD."""
        with self._lock:
            self._netns = (node_netns, pod_netns)
            self.state.update(pod=pod, node=node, index=self.state["index"] + 1, steps=[])
            self._publish()
        return {"delay": self.delay, "events": self.path, "manual": self.manual}

    def next(self) -> bool:
        """Let the paused step go on; False when no step was waiting."""
        with self._lock:
            if self._waiting is None:
                return False
            conn, _ = self._waiting
            self._waiting = None
            self.state["waiting"] = False
            with contextlib.suppress(OSError):  # the call ended meanwhile
                conn.send(NEXT)
            self._publish()
            return True

    def finish(self, error: str = "") -> None:
        with self._lock:
            self.state.update(done=True, waiting=False, error=error)
            self._publish()

    def close(self) -> None:
        """Stop listening and remove the socket; a paused plugin is let go (it sees EOF)."""
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            self._waiting = None
            self.state["waiting"] = False
        for conn in self._conns:
            conn.close()
        self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- the channel -------------------------------------------------------------------
    def _publish(self) -> None:
        self.publish_to(TOPIC, json.loads(json.dumps(self.state)))

    def _serve(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._listener, *self._conns], [], [], TICK)
            for sock in readable:
                if sock is self._listener:
                    conn, _ = self._listener.accept()
                    conn.setblocking(False)
                    self._conns.append(conn)
                else:
                    self._read(sock)
            self._maybe_auto_next()

    def _read(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(MESSAGE_MAX)
        except OSError:
            data = b""
        if not data:  # the call ended (or died)
            self._conns.remove(conn)
            with self._lock:
                if self._waiting and self._waiting[0] is conn:
                    self._waiting = None
                    self.state["waiting"] = False
            conn.close()
            return
        try:
            event = json.loads(data)
        except ValueError:
            log.warning("demo: a message that is not JSON, ignored")
            return
        if isinstance(event, dict):
            self._step(conn, event)

    def _step(self, conn: socket.socket, event: dict[str, Any]) -> None:
        with self._lock:
            node_netns, pod_netns = self._netns
            if not pod_netns and isinstance(event.get("netns"), str):
                pod_netns = os.path.basename(event["netns"])
            touched = event.get("touched") if isinstance(event.get("touched"), list) else []
            objects, ids = resolve(touched, node_netns, pod_netns)
            commands = event.get("commands") if isinstance(event.get("commands"), list) else []
            step = {
                "n": len(self.state["steps"]) + 1,
                "step": _text(event.get("step")),
                "says": _text(event.get("says")),
                "command": _text(event.get("command")),
                "ifname": _text(event.get("ifname")),
                "touched": objects,
                "ids": ids,
                "commands": [_text(c) for c in commands[:FIELDS_MAX]],
                "at": round(time.time(), 3),
            }
            self.state["steps"].append(step)
            if event.get("pause") == "manual":
                self._waiting = (conn, time.monotonic())
                self.state["waiting"] = True
            self._publish()

    def _maybe_auto_next(self) -> None:
        waiting = self._waiting
        if waiting is not None and time.monotonic() - waiting[1] >= self.auto_next:
            log.info("demo: no Next for %.0f s, going on", self.auto_next)
            self.next()


class DemoBoard:
    """The sessions running in one process (the app), so Next reaches the right one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, DemoSession] = {}

    def add(self, session: DemoSession) -> None:
        with self._lock:
            self._sessions[session.id] = session

    def remove(self, session: DemoSession) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)

    def next(self, session_id: str = "") -> bool:
        """Advance `session_id`'s paused step (any paused one when ""); False: none waited."""
        with self._lock:
            chosen = [self._sessions[session_id]] if session_id in self._sessions else []
            if not session_id:
                chosen = list(self._sessions.values())
        return any([s.next() for s in chosen])

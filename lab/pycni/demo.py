"""pycni's end of the demo channel: each finished step, told to the runtime as an event.

In slow motion a runtime names a unix socket in its `demo` capability arg
(`runtimeConfig.demo.events`). pycni connects to it once per call (SOCK_SEQPACKET:
one message per event, both ways) and sends one JSON event per step: its name, what
it says, the kernel objects it touched and the `ip`/`nft` commands that would do the
same by hand. In manual mode it then waits until the runtime answers "next"; else it
pauses `delay` seconds. A runtime that named no socket, or whose socket is gone, only
gets the pause: the demo never fails a call. Standard library only (pycni's start-up
counts).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("pycni")
PROTOCOL = 1
NEXT = b"next"
MANUAL_WAIT_MAX = 600.0  # seconds one manual step may wait for "next" before going on
SEND_TIMEOUT = 2.0
SOCKET_PATH_MAX = 107  # sun_path, less its terminating NUL


@dataclass(frozen=True)
class DemoOptions:
    """runtimeConfig.demo (or the conflist's demoDelay): how to pause, where to tell."""

    delay: float = 0.0
    events: str = ""  # the runtime's socket; "" when none was named
    manual: bool = False

    @property
    def on(self) -> bool:
        return bool(self.delay or self.events or self.manual)


@dataclass(frozen=True)
class Step:
    """One finished step, as the demo tells it."""

    step: str
    says: str
    touched: list[dict[str, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


class DemoLink:
    """The connection to the runtime for one call; a no-op when the demo is off."""

    def __init__(self, options: DemoOptions, context: dict[str, str]) -> None:
        self.options = options
        self.context = context
        self.count = 0
        self.sock: socket.socket | None = None
        if options.events:
            self.sock = self._connect(options.events)

    @staticmethod
    def _connect(path: str) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        sock.settimeout(SEND_TIMEOUT)
        try:
            sock.connect(path)
        except OSError as e:
            log.warning("demo: cannot reach the runtime's socket %s: %s", path, e)
            sock.close()
            return None
        return sock

    def report(self, step: Step) -> None:
        """Tell the step, then pause as the runtime asked."""
        self.count += 1
        log.info("step %s %s", step.step, " ".join(step.commands))
        if not self.options.on:
            return
        manual = self.options.manual and self.sock is not None
        event = {
            "v": PROTOCOL,
            "n": self.count,
            **self.context,
            **asdict(step),
            "pause": "manual" if manual else ("delay" if self.options.delay else "none"),
            "delay": self.options.delay,
        }
        if not self._send(event):
            manual = False
        if manual:
            self._wait_next()
        elif self.options.delay:
            time.sleep(self.options.delay)

    def _send(self, event: dict[str, Any]) -> bool:
        if self.sock is None:
            return False
        try:
            self.sock.send(json.dumps(event, separators=(",", ":")).encode())
            return True
        except OSError as e:
            log.warning("demo: the runtime's socket stopped listening: %s", e)
            self.close()
            return False

    def _wait_next(self) -> None:
        """Until "next" comes, the runtime hangs up, or MANUAL_WAIT_MAX has passed."""
        assert self.sock is not None
        self.sock.settimeout(MANUAL_WAIT_MAX)
        try:
            answer = self.sock.recv(64)
        except OSError as e:
            log.warning("demo: no 'next' came (%s); going on", e)
            answer = b""
        finally:
            if self.sock is not None:
                self.sock.settimeout(SEND_TIMEOUT)
        if answer != NEXT:
            self.close()  # hung up: the rest of the call runs without pauses

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

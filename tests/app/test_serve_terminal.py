"""`cnilab serve` and its terminals: on by default on loopback (the page learns the
port from /api/terminal), off in --read-only and with --no-terminal, refused with a
clear message when their port is taken, and gone with the server: SIGTERM ends every
shell and all it started."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from lab.terminal.shell import session_processes
from tests.app.test_serve import Served, start, stop

pytestmark = pytest.mark.root


def terminal_info(served: Served) -> dict[str, object]:
    status, body = served.get("/api/terminal", **{"X-Cnilab-Token": served.token})
    assert status == 200, body
    return json.loads(body)


def test_off_when_read_only_or_asked(tmp_path: Path) -> None:
    for flag, why in (("--read-only", None), ("--no-terminal", "--no-terminal")):
        served = start(tmp_path, flag)
        try:
            if why is None:  # read-only serves no /api/terminal at all
                assert served.get("/api/terminal", **{"X-Cnilab-Token": served.token})[0] == 403
            else:
                info = terminal_info(served)
                assert info["enabled"] is False and why in str(info["reason"])
        finally:
            stop(served)


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        served = start(tmp_path, "--terminal-port", str(taken.getsockname()[1]))
        assert served.proc.wait(timeout=20) != 0
        assert served.proc.stderr is not None
        assert "cannot listen for terminals" in served.proc.stderr.read()


def test_sigterm_ends_every_shell(tmp_path: Path) -> None:
    from lab.cluster import build
    from tests.conftest import new_plan

    plan = build.up(new_plan(tmp_path))  # its state dir is the one start() serves
    try:
        served = start(tmp_path, "--max-terminals", "2", env=serve_env(tmp_path))
        try:
            info = terminal_info(served)
            assert info["enabled"] is True and info["max"] == 2
            assert {"id": "node:node1", "label": "node1"} in info["targets"]  # type: ignore[operator]
            uri = f"ws://127.0.0.1:{info['port']}/terminal?token={served.token}&target=node:node2"
            with connect(uri, origin=f"http://127.0.0.1:{served.port}") as ws:  # type: ignore[arg-type]
                hello = json.loads(ws.recv(timeout=10))
                ws.send(b"setsid sleep 7301 & echo E''ND\n")
                seen = ""
                while "END" not in seen:
                    frame = ws.recv(timeout=10)
                    seen += frame.decode() if isinstance(frame, bytes) else ""
                marker = marker_of(hello["pid"])
                stop(served)  # SIGTERM, the terminal still open
        finally:
            stop(served)
        deadline = time.monotonic() + 10
        while session_processes(hello["pid"], marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session_processes(hello["pid"], marker) == set()
    finally:
        build.down(plan)


def serve_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CNILAB_WORKSPACE": str(tmp_path / "w")}


def marker_of(pid: int) -> str:
    from lab.terminal.shell import MARKER

    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(e.split(b"=", 1)[1].decode() for e in env if e.startswith(f"{MARKER}=".encode()))

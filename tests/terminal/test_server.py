"""The terminal server against a real lab: its gates refuse a foreign Host, a missing or
foreign Origin, a wrong token and one terminal too many; a shell runs in the namespace
asked for, in the step's folder, with `cnilab` on PATH; and however the connection ends,
no process the shell started is left, even ones that made a session of their own or
left their parent."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from lab.cluster import build
from lab.exercises.catalog import get_exercise
from lab.terminal.server import TerminalConfig, TerminalServer
from lab.terminal.shell import MARKER
from tests.conftest import RunningLab, new_plan

pytestmark = pytest.mark.root

TOKEN = "terminal-test-token"
APP_PORT = 8765  # the page's origin names the app's port, not the terminal server's


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    from lab.runtime.pods import Runtime

    plan = build.up(new_plan(tmp_path_factory.mktemp("terminal")))
    try:
        yield RunningLab(plan, Runtime(plan))
    finally:
        build.down(plan)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    (root / get_exercise("add").folder.name).mkdir()
    return root


@pytest.fixture(scope="module")
def server(lab: RunningLab, workspace: Path) -> Iterator[TerminalServer]:
    config = TerminalConfig(
        host="127.0.0.1",
        app_port=APP_PORT,
        state_dir=lab.plan.state_dir,
        workspace=workspace,
        token=TOKEN,
        max_terminals=3,
    )
    server = TerminalServer(config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def url(server: TerminalServer, **query: str) -> str:
    query = {"token": TOKEN, "target": "node:node1", "step": "add", **query}
    text = "&".join(f"{k}={v}" for k, v in query.items())
    return f"ws://127.0.0.1:{server.port}/terminal?{text}"


def open_terminal(server: TerminalServer, origin: str = "", **query: str) -> ClientConnection:
    origin = origin or f"http://127.0.0.1:{APP_PORT}"
    return connect(url(server, **query), origin=origin, open_timeout=10)  # type: ignore[arg-type]


def ready(ws: ClientConnection) -> dict[str, Any]:
    first = ws.recv(timeout=10)
    assert isinstance(first, str)
    return json.loads(first)


def run(ws: ClientConnection, command: str, until: str, timeout: float = 15) -> str:
    """Type `command`; the output until `until` shows (a marker the command prints)."""
    ws.send(f"{command}\n".encode())
    seen = ""
    deadline = time.monotonic() + timeout
    while until not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {until!r} in {seen!r}"
        frame = ws.recv(timeout=left)
        if isinstance(frame, bytes):
            seen += frame.decode(errors="replace")
    return seen


def left_behind(pid: int, marker: str) -> list[int]:
    """Live processes of the terminal: its session, or its marker in their environment."""
    from lab.terminal.shell import session_processes

    return sorted(session_processes(pid, marker))


def marker_of(pid: int, timeout: float = 10) -> str:
    """The shell's marker; until its exec chain (setpriv, setsid, nsenter) reaches the
    environment it was given, /proc shows the forking parent's, so wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        found = [e.split(b"=", 1)[1].decode() for e in env if e.startswith(f"{MARKER}=".encode())]
        if found or time.monotonic() > deadline:
            assert found, f"no {MARKER} in the environment of {pid}"
            return found[0]
        time.sleep(0.05)


def refused(server: TerminalServer, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as e:
        connect(**kw)
    return e.value.response.status_code


def raw_status(server: TerminalServer, host: str, origin: str) -> int:
    """The status of a hand-made upgrade request: a DNS-rebinding page's Host and Origin."""
    request = (
        f"GET /terminal?token={TOKEN}&target=node:node1 HTTP/1.1\r\nHost: {host}\r\n"
        f"Origin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request.encode())
        return int(s.recv(200).split()[1])


def test_gates(server: TerminalServer) -> None:
    good = url(server)
    origin = f"http://127.0.0.1:{APP_PORT}"
    assert refused(server, uri=good, origin="http://attacker.example:8765") == 403
    assert refused(server, uri=good, origin=f"http://127.0.0.1:{server.port}") == 403  # not the app
    assert refused(server, uri=good, origin=f"http://localhost:{APP_PORT}") == 403  # not our Host
    assert refused(server, uri=good) == 403  # no Origin at all: not a browser on our page
    assert refused(server, uri=url(server, token="wrong"), origin=origin) == 403
    assert refused(server, uri=url(server, token="ü"), origin=origin) == 403
    twice = {"Host": f"attacker.example:{server.port}"}  # a second Host header
    assert refused(server, uri=good, origin=origin, additional_headers=twice) == 403
    rebound = f"attacker.example:{server.port}"
    assert raw_status(server, rebound, f"http://attacker.example:{APP_PORT}") == 403
    assert raw_status(server, f"127.0.0.1:{server.port}", origin) == 101  # the same, ours
    assert refused(server, uri=good.replace("/terminal", "/other"), origin=origin) == 404


def test_bad_targets_are_refused_with_a_reason(server: TerminalServer) -> None:
    for target, reason in [
        ("host", "node:NAME"),
        ("node:node9", "unknown node"),
        ("pod:..%2F..%2Fetc", "node:NAME"),
        ("pod:nosuchpod", "no pod"),
    ]:
        with open_terminal(server, target=target) as ws, pytest.raises(ConnectionClosed) as e:
            ws.recv(timeout=10)
        assert e.value.rcvd is not None and e.value.rcvd.code == 1008
        assert reason in e.value.rcvd.reason, target
    with open_terminal(server, step="99") as ws, pytest.raises(ConnectionClosed) as e:
        ws.recv(timeout=10)
    assert "no exercise" in e.value.rcvd.reason  # type: ignore[union-attr]
    assert not server.shells


def test_a_shell_in_the_namespace_asked_for(
    server: TerminalServer, lab: RunningLab, workspace: Path
) -> None:
    for target, netns in [
        ("node:node2", lab.plan.node("node2").netns),
        ("underlay", lab.plan.underlay_netns),
    ]:
        with open_terminal(server, target=target, cols="91", rows="33") as ws:
            hello = ready(ws)
            assert hello["id"] == target and hello["cwd"] == str(workspace / "06-add")
            want = os.stat(f"/run/netns/{netns}").st_ino
            out = run(
                ws, "stat -L -c 'ino=%i' /proc/self/ns/net; stty size; pwd; echo E''ND", "END"
            )
            assert f"ino={want}" in out and "33 91" in out and "06-add" in out
            ws.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
            assert "40 120" in run(ws, "stty size; echo E''ND", "END")
            ws.send(json.dumps({"type": "resize", "cols": 10**9, "rows": "x"}))  # ignored, clamped
            assert "24 80" in run(ws, "stty size; echo E''ND", "END")
    with open_terminal(server) as ws:
        ready(ws)
        out = run(ws, "cnilab status; env | grep -c TOKEN; echo E''ND", "END")
        assert lab.plan.node("node1").netns in out or "node1" in out
        assert "\n0\r" in out  # the server's token is not in the shell's environment


def test_a_pod_terminal(server: TerminalServer, lab: RunningLab) -> None:
    pod = lab.runtime.add("termpod", "node1")
    try:
        with open_terminal(server, target="pod:termpod") as ws:
            assert ready(ws)["label"] == "termpod"
            out = run(ws, "ip -4 -o addr show eth0; echo E''ND", "END")
            assert pod.addresses()[0].split("/")[0] in out
    finally:
        lab.runtime.delete("termpod")


ESCAPES = (
    "sleep 7001 & "  # a background job of the session
    "setsid sleep 7002 & "  # a session of its own, still a child
    "(setsid sh -c 'sleep 7003 & ' &) ; "  # a new session and no parent: only the marker
    "nohup sleep 7004 >/dev/null 2>&1 & "
    "sleep 0.2; echo E''ND"
)


def sleepers() -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd[:1] == [b"sleep"] and cmd[1:2] and cmd[1].startswith(b"700"):
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                if stat[stat.rfind(")") + 2] != "Z":
                    found.append(cmd[1].decode())
    return sorted(found)


def test_closing_the_connection_ends_everything_the_shell_started(
    server: TerminalServer,
) -> None:
    with open_terminal(server) as ws:
        pid = ready(ws)["pid"]
        marker = marker_of(pid)
        run(ws, ESCAPES, "END")
        assert sleepers() == ["7001", "7002", "7003", "7004"]
    deadline = time.monotonic() + 10
    while (left_behind(pid, marker) or sleepers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left_behind(pid, marker) == [] and sleepers() == []
    assert not server.shells


def test_exit_ends_the_terminal(server: TerminalServer) -> None:
    with open_terminal(server) as ws:
        pid = ready(ws)["pid"]
        ws.send(b"exit\n")
        frames = []
        with pytest.raises(ConnectionClosed):
            while True:
                frames.append(ws.recv(timeout=10))
        assert json.dumps({"type": "exit"}) in frames
    deadline = time.monotonic() + 10  # the server reaps it just after closing
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")


def test_the_cap_and_the_server_stopping(lab: RunningLab, workspace: Path) -> None:
    config = TerminalConfig("127.0.0.1", APP_PORT, lab.plan.state_dir, workspace, TOKEN)
    config.max_terminals = 2
    server = TerminalServer(config)
    server.start()
    try:
        with contextlib.ExitStack() as stack:
            opened = [stack.enter_context(open_terminal(server)) for _ in range(2)]
            pids = [ready(ws)["pid"] for ws in opened]
            markers = [marker_of(pid) for pid in pids]
            run(opened[0], "setsid sleep 7005 & echo E''ND", "END")
            with pytest.raises(InvalidStatus) as e:
                open_terminal(server)
            assert e.value.response.status_code == 503
            assert e.value.response.headers["Retry-After"]
            server.stop()  # the connections still open: the server's end ends the shells
            for pid, marker in zip(pids, markers, strict=True):
                assert left_behind(pid, marker) == []
            assert sleepers() == []
            assert not server.shells
    finally:
        server.stop()

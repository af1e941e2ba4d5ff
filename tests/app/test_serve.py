"""`cnilab serve` as a process: the address line, the token options, and a flood of slow
and streaming clients that must not starve the page's own requests."""

from __future__ import annotations

import contextlib
import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CNILAB = str(Path(sys.executable).parent / "cnilab")
ADDRESS = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{20,})$")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Served:
    proc: subprocess.Popen[str]
    first_line: str
    port: int
    token: str

    def get(self, path: str, timeout: float = 5, **headers: str) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with NO_PROXY.open(request, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    proc = subprocess.Popen(
        [CNILAB, "--state-dir", str(tmp_path / "state"), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline().rstrip("\n") if ready else ""
    port = re.search(r":(\d+)/", line)
    token = re.search(r"token=([A-Za-z0-9_-]+)", line)
    return Served(proc, line, int(port.group(1)) if port else 0, token.group(1) if token else "")


def stop(served: Served) -> None:
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
        try:
            served.proc.wait(10)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait(5)
    for stream in (served.proc.stdout, served.proc.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = start(tmp_path)
    try:
        yield s
    finally:
        stop(s)


def test_the_address_with_its_token_is_a_line_of_its_own(served: Served) -> None:
    assert ADDRESS.match(served.first_line), served.first_line
    assert served.get("/api/status")[0] == 403
    status, body = served.get(f"/api/status?token={served.token}")
    assert status == 200 and json.loads(body) == {"up": False}
    assert served.get("/", timeout=5)[0] == 200
    assert (
        served.get("/api/status", Host="attacker.example", **{"X-Cnilab-Token": served.token})[0]
        == 403
    )


def test_sigterm_stops_it_cleanly(served: Served) -> None:
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(10) == 0


def test_the_token_comes_from_a_file_and_is_not_printed(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-the-file-0123456789\n")
    s = start(tmp_path, "--token-file", str(tmp_path / "token"))
    try:
        assert "from-the-file" not in s.first_line and str(tmp_path / "token") in s.first_line
        assert s.get("/api/status", **{"X-Cnilab-Token": "from-the-file-0123456789"})[0] == 200
    finally:
        stop(s)


def test_a_token_from_the_environment_is_not_printed(tmp_path: Path) -> None:
    import os

    s = start(tmp_path, env={**os.environ, "CNILAB_TOKEN": "from-the-env-0123456789"})
    try:
        assert "from-the-env" not in s.first_line and "CNILAB_TOKEN" in s.first_line
        assert s.get("/api/status", **{"X-Cnilab-Token": "from-the-env-0123456789"})[0] == 200
    finally:
        stop(s)


def test_no_token_is_for_loopback_only(tmp_path: Path) -> None:
    refused = subprocess.run(
        [CNILAB, "--state-dir", str(tmp_path), "serve", "--host", "0.0.0.0", "--no-token"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode != 0 and "loopback" in refused.stderr
    s = start(tmp_path, "--no-token")
    try:
        assert s.get("/api/status")[0] == 200
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(10)
        assert s.proc.stderr is not None and "warning" in s.proc.stderr.read()
    finally:
        stop(s)


def _half_sent(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET /api/topology HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode())
    return sock


def _stream(port: int, token: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        f"GET /api/events?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    )
    return sock, sock.recv(4096)


def test_slow_clients_and_a_flood_of_streams_leave_the_page_answered(served: Served) -> None:
    with contextlib.ExitStack() as held:
        for _ in range(300):
            held.callback(_half_sent(served.port).close)
        answers = []
        for _ in range(150):
            sock, head = _stream(served.port, served.token)
            held.callback(sock.close)
            answers.append(head)
        streaming = [a for a in answers if a.startswith(b"HTTP/1.1 200")]
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert len(streaming) == 32 and len(refused) == 118
        assert all(b"Retry-After: " in a for a in refused)
        started = time.monotonic()
        status, body = served.get("/api/topology", timeout=2, **{"X-Cnilab-Token": served.token})
        took = time.monotonic() - started
        assert status == 200 and "nodes" in json.loads(body)
        assert took < 2
        print(f"/api/topology under 300 half-sent requests and 150 streams: {took * 1000:.0f} ms")

"""The client against a hostile agent: a wrong certificate, redirects, huge answers.

A scripted HTTPS server stands in for the agent (no namespaces needed); it records
every request it gets, so a test can tell that nothing was sent at all.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.agent import client as client_module
from lab.agent.cert import ensure_cert
from lab.agent.client import AgentClient, AgentError, AgentRef
from lab.agent.signing import NONCE_HEADER, SIGNATURE_HEADER, TIME_HEADER

TOKEN = "a-token-that-must-never-travel"


@dataclass
class Script:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"
    length: bool = True  # send Content-Length (else: read until the connection closes)
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@dataclass
class FakeAgent:
    url: str
    fingerprint: str
    script: Script

    def client(self, fingerprint: str | None = None) -> AgentClient:
        pin = self.fingerprint if fingerprint is None else fingerprint
        return AgentClient(AgentRef("node1", self.url, TOKEN, pin), timeout=5)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeAgent]:
    script = Script()

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size)
            script.seen.append((self.command, self.path, dict(self.headers), body))
            self.send_response(script.status)
            for key, value in script.headers.items():
                self.send_header(key, value)
            if script.length:
                self.send_header("Content-Length", str(len(script.body)))
            else:
                self.close_connection = True
            self.end_headers()
            self.wfile.write(script.body)

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    cert = ensure_cert(tmp_path / "cert", "node1")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert.cert, cert.key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeAgent(f"https://127.0.0.1:{server.server_port}", cert.fingerprint, script)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_request_is_signed_and_carries_no_token(fake: FakeAgent) -> None:
    fake.client().call("POST", "/v1/ask", {"netns": "x"})
    [(method, path, headers, body)] = fake.script.seen
    assert (method, path, body) == ("POST", "/v1/ask", b'{"netns": "x"}')
    assert {TIME_HEADER, NONCE_HEADER, SIGNATURE_HEADER} <= set(headers)
    assert "Authorization" not in headers
    assert all(TOKEN not in value for value in headers.values())


def test_a_wrong_fingerprint_is_refused_before_sending(fake: FakeAgent) -> None:
    with pytest.raises(AgentError, match="refused before sending anything"):
        fake.client("ab" * 32).info()
    with pytest.raises(AgentError, match=r"not the pinned \(none given\)"):
        fake.client("").info()
    assert fake.script.seen == []
    assert fake.client().info() == {}  # the right one gets through


def test_a_redirect_is_not_followed(fake: FakeAgent) -> None:
    fake.script.status = 302
    fake.script.headers = {"Location": "https://attacker.example/v1/info"}
    with pytest.raises(AgentError, match=r"HTTP 302: a redirect .* not followed") as e:
        fake.client().info()
    assert e.value.status == 302 and len(fake.script.seen) == 1


@pytest.mark.parametrize("length", [True, False])
def test_an_oversized_answer_is_refused(
    fake: FakeAgent, monkeypatch: pytest.MonkeyPatch, length: bool
) -> None:
    monkeypatch.setattr(client_module, "MAX_RESPONSE", 1000)
    fake.script.body = b'{"x": "' + b"y" * 2000 + b'"}'
    fake.script.length = length
    with pytest.raises(AgentError, match=r"longer than 1000 bytes|too long"):
        fake.client().info()
    fake.script.body = b'{"x": "' + b"y" * 900 + b'"}'
    assert len(fake.client().info()["x"]) == 900


def test_an_error_answer_names_the_agent_and_its_message(fake: FakeAgent) -> None:
    fake.script.status = 400
    fake.script.body = b'{"error": "probe: 8.8.8.8 is outside the lab"}'
    with pytest.raises(AgentError, match=r"agent node1: HTTP 400: probe: 8\.8\.8\.8 is outside"):
        fake.client().arm({}, 1)

"""Talking to node agents: where they are (AgentRef), and one client per agent.

The app's AGENTS setting, or the file given to `cnilab serve --agents`, is a list of
{"name": "node1", "url": "https://192.168.56.11:8081", "token": "...", "fingerprint":
"..."}; "token_file" and "fingerprint_file" name files whose first line is the value.
The fingerprint is the SHA-256 of the agent's certificate (it prints it when it
starts): the client checks it right after the TLS handshake, before it sends a byte,
and trusts no CA and no host name. A plain http:// URL is accepted only for an agent
on loopback. Requests are signed with the token (signing.py), never carry it.

http.client, not urllib: no proxy from the environment (agents are on the lab's own
network), no redirect ever followed (a 3xx is an error), and answers are read up to
MAX_RESPONSE bytes, a longer one refused.

Each client keeps its best estimate of the agent's clock offset, NTP's way: from our
send and receive times and the agent's "received" and "now", offset = ((received -
sent) + (now - got)) / 2, exact when the network takes as long both ways, whatever
the agent spent on the request; the exchange with the shortest network delay wins.
"""

from __future__ import annotations

import hmac
import http.client
import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lab.agent.cert import CertError, fingerprint_of, parse_fingerprint
from lab.agent.scope import NODE_NAME_RE
from lab.agent.signing import sign
from lab.hostguard import is_loopback

DEFAULT_TIMEOUT = 5.0
MAX_RESPONSE = 32 * 1024 * 1024


class AgentConfigError(ValueError):
    pass


class AgentError(RuntimeError):
    """An agent did not answer, or refused; the message names it."""

    def __init__(self, agent: str, message: str, status: int = 0) -> None:
        super().__init__(f"agent {agent}: {message}")
        self.agent = agent
        self.status = status


@dataclass(frozen=True)
class AgentRef:
    name: str
    url: str  # https://host:port (http:// on loopback only), no trailing slash
    token: str = ""
    fingerprint: str = ""  # SHA-256 of the agent's certificate, 64 lowercase hex digits


def _first_line(item: dict[str, Any], key: str, where: str) -> Any:
    """item[key], or the first line of the file item[key + "_file"] names."""
    if f"{key}_file" not in item:
        return item.get(key, "")
    try:
        lines = Path(str(item[f"{key}_file"])).read_text().splitlines()
        return lines[0].strip()
    except (OSError, IndexError, UnicodeDecodeError) as e:
        raise AgentConfigError(f"{where}: cannot read {key}_file: {e}") from None


def _ref(item: Any, where: str) -> AgentRef:
    if not isinstance(item, dict):
        raise AgentConfigError(f"{where}: an agent must be an object with name, url and token")
    name, url = item.get("name"), item.get("url")
    if not isinstance(name, str) or not NODE_NAME_RE.match(name):
        raise AgentConfigError(f"{where}: 'name' must be a node name such as node1")
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        port = parts.port if parts else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentConfigError(f"{where}: 'url' must be https://HOST:PORT")
    if parts.path.strip("/") or parts.query or parts.username or port is None:
        raise AgentConfigError(f"{where}: 'url' must be https://HOST:PORT, nothing more")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise AgentConfigError(f"{where}: an agent off loopback is reached over https only")
    token, fingerprint = _first_line(item, "token", where), _first_line(item, "fingerprint", where)
    if not isinstance(token, str):
        raise AgentConfigError(f"{where}: 'token' must be a string")
    if not isinstance(fingerprint, str):
        raise AgentConfigError(f"{where}: 'fingerprint' must be a string")
    if parts.scheme == "https" or fingerprint:
        try:
            fingerprint = parse_fingerprint(fingerprint)
        except CertError as e:
            raise AgentConfigError(f"{where}: 'fingerprint' (the agent prints it): {e}") from None
    return AgentRef(name, str(url).rstrip("/"), token, fingerprint)


def agent_refs(data: Any) -> list[AgentRef]:
    """Validated agents from a list (or {"agents": [...]}); names and URLs unique."""
    if isinstance(data, dict) and "agents" in data:
        data = data["agents"]
    if not isinstance(data, list | tuple):
        raise AgentConfigError("agents must be a list of {name, url, token}")
    refs = [r if isinstance(r, AgentRef) else _ref(r, f"agent {i + 1}") for i, r in enumerate(data)]
    for key in ("name", "url"):
        values = [getattr(r, key) for r in refs]
        if dupes := sorted({v for v in values if values.count(v) > 1}):
            raise AgentConfigError(f"two agents have the same {key}: {', '.join(dupes)}")
    return refs


def load_agents_file(path: str | Path) -> list[AgentRef]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise AgentConfigError(f"{path}: {e}") from None
    try:
        return agent_refs(data)
    except AgentConfigError as e:
        raise AgentConfigError(f"{path}: {e}") from None


@dataclass(frozen=True)
class Clock:
    offset: float  # the agent's clock minus ours, seconds (within +- delay / 2)
    delay: float  # the network's share of the round trip it was measured on


class AgentClient:
    def __init__(self, ref: AgentRef, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.ref = ref
        self.timeout = timeout
        self.clock: Clock | None = None

    @property
    def name(self) -> str:
        return self.ref.name

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 0
    ) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.ref.token:
            headers.update(sign(self.ref.token, self.name, method, path, data))
        conn = self._connect(timeout or self.timeout)
        sent = time.time()
        try:
            conn.request(method, path, data if body is not None else None, headers)
            resp = conn.getresponse()
            raw = _read_capped(resp)
        except (OSError, http.client.HTTPException) as e:
            raise AgentError(self.name, f"no answer from {self.ref.url}: {e}") from None
        finally:
            conn.close()
        got = time.time()
        if not 200 <= resp.status < 300:
            raise AgentError(self.name, _refusal(resp, raw), resp.status)
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            raise AgentError(self.name, f"{method} {path}: the answer is not JSON") from None
        if isinstance(answer, dict):
            self._sample(answer.get("received"), answer.get("now"), sent, got)
        return resp.status, answer

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        """A connection whose certificate is the pinned one (checked before any request)."""
        parts = urlsplit(self.ref.url)
        host, port = parts.hostname or "", parts.port
        if parts.scheme == "http":
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_TLS)
        try:
            conn.connect()
            if isinstance(conn, http.client.HTTPSConnection):
                self._check_pin(conn)
        except OSError as e:
            conn.close()
            raise AgentError(self.name, f"no answer from {self.ref.url}: {e}") from None
        except AgentError:
            conn.close()
            raise
        return conn

    def _check_pin(self, conn: http.client.HTTPSConnection) -> None:
        sock = conn.sock
        der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        seen = fingerprint_of(der) if der else ""
        if not self.ref.fingerprint or not hmac.compare_digest(seen, self.ref.fingerprint):
            raise AgentError(
                self.name,
                f"{self.ref.url} shows certificate {seen or '(none)'}, not the pinned "
                f"{self.ref.fingerprint or '(none given)'}: refused before sending anything",
            )

    def _sample(self, received: Any, now: Any, sent: float, got: float) -> None:
        if not all(isinstance(t, int | float) for t in (received, now)):
            return
        delay = (got - sent) - (now - received)
        if self.clock is None or delay < self.clock.delay:
            self.clock = Clock(((received - sent) + (now - got)) / 2, delay)

    # The agent's API (lab/agent/server.py)

    def info(self) -> dict[str, Any]:
        return self.call("GET", "/v1/info")[1]

    def snapshot(self, after: int | None = None, wait: float = 0) -> dict[str, Any] | None:
        """The agent's snapshot; with `after`, a newer one within `wait` seconds, or None."""
        if after is None:
            return self.call("GET", "/v1/snapshot", timeout=self.timeout + 10)[1]
        query = f"/v1/snapshot?after={after}&wait={wait:g}"
        status, answer = self.call("GET", query, timeout=self.timeout + wait)
        return None if status == 204 else answer

    def arm(self, marker: dict[str, Any], ttl: float) -> str:
        return str(self.call("POST", "/v1/captures", {"probe": marker, "ttl": ttl})[1]["id"])

    def send(self, cid: str, netns: str) -> float:
        return float(self.call("POST", f"/v1/captures/{cid}/send", {"from": netns})[1]["sent_at"])

    def collect(self, cid: str, until_reply: bool, timeout: float) -> dict[str, Any]:
        body = {"until_reply": until_reply, "timeout": timeout}
        return self.call("POST", f"/v1/captures/{cid}/collect", body, self.timeout + timeout)[1]

    def cancel(self, cid: str) -> None:
        self.call("DELETE", f"/v1/captures/{cid}")

    def ask(self, netns: str, dst: str, question: str, label: str = "") -> str | None:
        body = {"netns": netns, "dst": dst, "question": question, "label": label}
        return self.call("POST", "/v1/ask", body)[1]["answer"]


def tls_context() -> ssl.SSLContext:
    """TLS 1.2+ with no CA and no host name: the fingerprint pin is the whole check."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


_TLS = tls_context()


def _read_capped(resp: http.client.HTTPResponse) -> bytes:
    length = resp.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > MAX_RESPONSE:
        raise http.client.HTTPException(f"the answer is too long ({length} bytes)")
    raw = resp.read(MAX_RESPONSE + 1)
    if len(raw) > MAX_RESPONSE:
        raise http.client.HTTPException(f"the answer is longer than {MAX_RESPONSE} bytes")
    return raw


def _refusal(resp: http.client.HTTPResponse, raw: bytes) -> str:
    if 300 <= resp.status < 400:
        return f"HTTP {resp.status}: a redirect (to {resp.getheader('Location')!r}), not followed"
    try:
        message = json.loads(raw).get("error", "")
    except (ValueError, AttributeError):
        message = ""
    return f"HTTP {resp.status}: {message or resp.reason}"

"""Talking to node agents: where they are (AgentRef), and one client per agent.

The app's AGENTS setting, or the file given to `cnilab serve --agents`, is a list of
{"name": "node1", "url": "http://192.168.56.11:8081", "token": "..."} (or
"token_file": a path whose first line is the token). Proxies from the environment
are ignored: agents are on the lab's own network.

Each client keeps its best estimate of the agent's clock offset, NTP's way: from our
send and receive times and the agent's "received" and "now", offset = ((received -
sent) + (now - got)) / 2, exact when the network takes as long both ways, whatever
the agent spent on the request; the exchange with the shortest network delay wins.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lab.agent.scope import NODE_NAME_RE

DEFAULT_TIMEOUT = 5.0
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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
    url: str  # http://host:port, no trailing slash
    token: str = ""


def _ref(item: Any, where: str) -> AgentRef:
    if not isinstance(item, dict):
        raise AgentConfigError(f"{where}: an agent must be an object with name, url and token")
    name, url = item.get("name"), item.get("url")
    if not isinstance(name, str) or not NODE_NAME_RE.match(name):
        raise AgentConfigError(f"{where}: 'name' must be a node name such as node1")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentConfigError(f"{where}: 'url' must be http://HOST:PORT")
    token = item.get("token", "")
    if "token_file" in item:
        try:
            token = Path(str(item["token_file"])).read_text().splitlines()[0].strip()
        except (OSError, IndexError) as e:
            raise AgentConfigError(f"{where}: cannot read token_file: {e}") from None
    if not isinstance(token, str):
        raise AgentConfigError(f"{where}: 'token' must be a string")
    return AgentRef(name, str(url).rstrip("/"), token)


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
        headers = {"Accept": "application/json"}
        if self.ref.token:
            headers["Authorization"] = f"Bearer {self.ref.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.ref.url + path, data, headers, method=method)
        sent = time.time()
        try:
            with _OPENER.open(req, timeout=timeout or self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            with e:
                raise AgentError(self.name, _refusal(e), e.code) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise AgentError(self.name, f"no answer from {self.ref.url}: {reason}") from None
        got = time.time()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            raise AgentError(self.name, f"{method} {path}: the answer is not JSON") from None
        if isinstance(answer, dict):
            self._sample(answer.get("received"), answer.get("now"), sent, got)
        return status, answer

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


def _refusal(e: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(e.read()).get("error", "")
    except (ValueError, AttributeError, OSError):
        message = ""
    return f"HTTP {e.code}: {message or e.reason}"

"""The web app's end of a terminal on another node: a WebSocket to that node's agent
(lab/agent/terminal.py), which node1's terminal server relays the page's frames to.

As every agent request: over TLS whose certificate is checked against the pinned
SHA-256 as soon as the handshake ends, before a byte of the request is sent (a
man in the middle gets no signed request to pass on); signed with the token, which
never travels; no proxy from the environment; no Origin (the agent refuses one).
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from lab.agent.cert import fingerprint_of
from lab.agent.client import AgentClient, AgentError, AgentRef, tls_context
from lab.agent.scope import POD_PREFIX, NodeScope
from lab.agent.signing import sign
from lab.terminal.server import RealNodes, WebSocketChannel
from lab.terminal.targets import Target, TargetError

OPEN_TIMEOUT = 10.0
MAX_OUTPUT = 1024 * 1024  # one frame of a shell's output; the pump sends at most 64 KiB


def pinned(ref: AgentRef) -> type[ClientConnection]:
    """A connection that drops itself unless the agent shows the pinned certificate."""

    class Pinned(ClientConnection):
        refused = ""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            tls = transport.get_extra_info("ssl_object")
            if tls is None:  # http:// on loopback (AgentRef allows no other)
                return
            der = tls.getpeercert(binary_form=True)
            seen = fingerprint_of(der) if der else ""
            if not ref.fingerprint or not hmac.compare_digest(seen, ref.fingerprint):
                Pinned.refused = (
                    f"certificate {seen[:12] or '(none)'}... is not the pinned "
                    f"{ref.fingerprint[:12] or '(none given)'}...: refused before sending anything"
                )
                transport.abort()

    return Pinned


class AgentTerminals:
    """Terminals on the node `ref` names (lab.terminal.server.RemoteTerminals)."""

    def __init__(self, ref: AgentRef) -> None:
        self.ref = ref

    async def open(self, spec: str, cols: int, rows: int) -> WebSocketChannel:
        target = f"/v1/terminal?{urlencode({'target': spec, 'cols': cols, 'rows': rows})}"
        secure = self.ref.url.startswith("https://")
        uri = ("wss://" if secure else "ws://") + self.ref.url.split("://", 1)[1] + target
        headers = sign(self.ref.token, self.ref.name, "GET", target, b"") if self.ref.token else {}
        factory = pinned(self.ref)
        options: dict[str, Any] = {"ssl": tls_context(), "server_hostname": ""} if secure else {}
        try:
            connection = await connect(
                uri,
                additional_headers=headers,
                create_connection=factory,
                proxy=None,
                compression=None,
                open_timeout=OPEN_TIMEOUT,
                max_size=MAX_OUTPUT,
                user_agent_header="cnilab-terminal-relay",
                **options,
            )
        except InvalidStatus as e:
            why = f"refused the terminal (HTTP {e.response.status_code})"
            raise TargetError(f"{self.ref.name}'s agent {why}") from None
        except (TimeoutError, OSError, WebSocketException, EOFError) as e:
            why = factory.refused or f"no answer from {self.ref.url} ({e or type(e).__name__})"
            raise TargetError(f"{self.ref.name}'s agent: {why}"[:120]) from None
        return WebSocketChannel(connection)


def remote_targets(ref: AgentRef, timeout: float = 3.0) -> list[Target]:
    """The places a terminal may open on the node `ref` names, as its agent lists them
    (just the node when the agent does not answer: opening one then says why)."""
    node = Target(f"node:{ref.name}", ref.name, "", ref.name)
    try:
        info = AgentClient(ref, timeout).info()
        own, names = str(info["netns"]), [str(n) for n in info["namespaces"]]
    except (AgentError, KeyError, TypeError):
        return [node]
    found = [node]
    for qualified in sorted(names):
        local = qualified.removeprefix(f"{ref.name}/")
        if qualified != own and "/" not in local:
            label = f"{ref.name}/{local.removeprefix(POD_PREFIX) or local}"
            found.append(Target(f"pod:{ref.name}/{local}", label, "", ref.name))
    return found


def real_nodes(agents: list[AgentRef], local: str, env: dict[str, str]) -> RealNodes:
    """The Vagrant lab's nodes for the terminal server: `local` is this host (its shells
    open here, its pods are `cnilab node pod`'s), every other agent is relayed to."""
    scope = NodeScope(local, pods_prefix=POD_PREFIX) if local in {a.name for a in agents} else None
    remote = {a.name: AgentTerminals(a) for a in agents if a.name != local}
    return RealNodes(scope, remote, env)

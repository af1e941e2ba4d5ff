"""The agent's terminal endpoint: a root shell on this node, for the web app's relay only.

    WebSocket /v1/terminal?target=node:NODE|pod:NODE/NETNS&cols=C&rows=R

Off unless the agent is started with `--allow-terminal` (the Vagrant unit passes it on
node2, whose shells node1's app relays), and never without a token. The upgrade is
refused (403, before any shell) unless: the Host is the agent's own, as for the API;
no Origin is sent (a browser always sends one, and no page may open this; the relay
sends none); and the request is signed with the token like every agent request
(lab.agent.signing: the signature covers the path and query, and a nonce is good
once, whether spent here or on the API). The relay checks the agent's pinned
certificate before it sends that request (lab.agent.terminal_client). Then, with the
reason in the close frame: terminals off, too many open, a target this node does not
serve. Frames and the shell's end as in lab.terminal.pump: when the link closes or
drops, or the agent stops, the shell and everything it started end.

ASGI, in gunicorn's asyncio worker: the API stays the WSGI app behind it (a2wsgi).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from lab.agent.scope import NodeScope
from lab.agent.signing import NoncesFull, SignatureError, Verifier
from lab.cluster.plan import DEFAULT_STATE_DIR
from lab.hostguard import host_allowed
from lab.terminal.pump import ChannelClosed, serve_shell
from lab.terminal.shell import Shell, ShellError, clamp_size, lab_env
from lab.terminal.targets import TargetError, resolve_on_node

PATH = "/v1/terminal"
MAX_TERMINALS = 8
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AsgiChannel:
    """An accepted ASGI WebSocket as a lab.terminal.pump Channel."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive, self._send = receive, send
        self.code: int | None = None
        self.reason = ""

    async def recv(self) -> bytes | str | None:
        if self.code is not None:
            return None
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.code, self.reason = message.get("code") or 1005, message.get("reason") or ""
            return None
        return message.get("bytes") if message.get("bytes") is not None else message.get("text")

    async def send(self, data: bytes | str) -> None:
        key = "bytes" if isinstance(data, bytes) else "text"
        try:
            await self._send({"type": "websocket.send", key: data})
        except (OSError, RuntimeError):  # gunicorn's WebSocketDisconnected is both
            raise ChannelClosed from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(OSError, RuntimeError):
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def closed_with(self) -> tuple[int | None, str]:
        return self.code, self.reason


def _one_header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", []) if k == name]
    return values[0].decode("latin-1") if len(values) == 1 else None


class TerminalEndpoint:
    """ASGI: WebSockets at PATH get a shell (when allowed); everything else goes to `api`."""

    def __init__(
        self,
        api: ASGIApp,
        scope: NodeScope,
        verifier: Verifier | None,
        port: int | None,
        allow_hosts: tuple[str, ...],
        enabled: bool,
        max_terminals: int = MAX_TERMINALS,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.api, self.scope, self.verifier = api, scope, verifier
        self.port, self.allow_hosts = port, allow_hosts
        self.enabled, self.max_terminals, self.alive = enabled, max_terminals, alive
        self.shells: set[Any] = set()
        self._stopping: asyncio.Event | None = None
        self._watcher: asyncio.Future[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.api(scope, receive, send)
            return
        await receive()  # websocket.connect
        if not self._admitted(scope):
            await send({"type": "websocket.close", "code": 1008})  # before accept: 403
            return
        await send({"type": "websocket.accept"})
        channel = AsgiChannel(receive, send)
        try:
            shell = self._open(scope)
        except (TargetError, ShellError) as e:
            await channel.close(1008 if not isinstance(e, Crowded) else 1013, str(e)[:120])
            return
        ready = {**shell.target.to_dict(), "pid": shell.pid, "cwd": str(shell.cwd)}
        serving = asyncio.ensure_future(serve_shell(channel, shell, ready, self.shells))
        stopping = asyncio.ensure_future(self._stopping_event().wait())
        await asyncio.wait((serving, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not serving.done():  # the agent is stopping: say so, and end the shell now
            await channel.close(1001, f"{self.scope.node}'s agent is stopping")
            await serving

    def _admitted(self, scope: Scope) -> bool:
        host = _one_header(scope, b"host") or ""
        if scope.get("path") != PATH or self.verifier is None:
            return False
        if not host_allowed(host, self.port, self.allow_hosts, 443):
            return False
        if any(k == b"origin" for k, _ in scope.get("headers", [])):
            return False  # a browser's: only the web app's relay opens a terminal here
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        target = target.partition("?")[0] + (f"?{query}" if query else "")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        headers = {k.title(): v for k, v in headers.items()}
        try:
            self.verifier.verify("GET", target, headers, b"", time.time())
        except (SignatureError, NoncesFull):
            return False
        return True

    def _open(self, scope: Scope) -> Shell:
        if not self.enabled:
            raise TargetError(
                f"terminals are off on {self.scope.node}'s agent (cnilab agent --allow-terminal)"
            )
        if len(self.shells) >= self.max_terminals:
            raise Crowded(f"too many terminals open on {self.scope.node}: close one")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        one = {k: v[0] for k, v in query.items() if v}
        target = resolve_on_node(self.scope, one.get("target", ""))
        cols, rows = (int(one[k]) if one.get(k, "").isdigit() else 0 for k in ("cols", "rows"))
        home = Path(os.environ.get("HOME") or "/root")
        return Shell(target, home, lab_env(str(DEFAULT_STATE_DIR), home), *clamp_size(cols, rows))

    def _stopping_event(self) -> asyncio.Event:
        """Set once the worker is told to stop; watched while any terminal is open."""
        if self._stopping is None:
            self._stopping = asyncio.Event()
            self._watcher = asyncio.ensure_future(self._watch(self._stopping))
        return self._stopping

    async def _watch(self, event: asyncio.Event) -> None:
        while self.alive():
            await asyncio.sleep(0.2)
        event.set()

    def close_all(self) -> None:
        """The worker is exiting: whatever shell is left ends, with all it started."""
        for shell in list(self.shells):
            shell.close()
        self.shells.clear()


class Crowded(TargetError):
    """The cap on this agent's terminals (1013: try again later)."""

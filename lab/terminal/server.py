"""The terminal server: WebSockets on a port of their own, beside the web app.

waitress speaks no WebSocket, so `cnilab serve` runs this small asyncio server (the
`websockets` package) in a thread. Every connection passes these gates before the
upgrade, in order: the path; the Host, as the web app's HostGuard checks it; the
Origin, which must be sent and must be the course page's own origin (a WebSocket is
not bound by the same-origin policy: any page the student visits could open one); the
token (`?token=`: a browser cannot set headers on a WebSocket); and the cap on open
terminals (503 with Retry-After). Then the step and the target are checked, and a
shell starts (lab.terminal.shell). Whatever ends the connection (the tab closed, the
network, the server stopping) ends the shell and everything it started. Frames:
lab.terminal.pump.

On real nodes (`RealNodes`: the Vagrant lab, the app on node1 with `--agents` and no
embedded lab here) a shell on this host's node opens here, in the node's own
namespace (the host's) or a pod's; one on another node opens through that node's agent
(`RemoteTerminals`, lab.agent.terminal_client), and this server relays the page's
frames to it: the page never reaches an agent, and the cap counts relayed terminals.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from lab.cluster.plan import load_plan
from lab.exercises.catalog import ExerciseError, get_exercise
from lab.hostguard import host_allowed, split_host
from lab.terminal.pump import Channel, ChannelClosed, relay, serve_shell
from lab.terminal.shell import Shell, ShellError, clamp_size, lab_env
from lab.terminal.targets import (
    ServedNode,
    TargetError,
    node_of,
    resolve,
    resolve_on_node,
)

PATH = "/terminal"
MAX_TERMINALS = 8
MAX_INPUT = 64 * 1024  # one frame from the page: a paste, never a file upload
RETRY_AFTER = "5"
log = logging.getLogger("cnilab.terminal")


@dataclass
class TerminalConfig:
    host: str
    app_port: int  # the page's origin must name this port
    state_dir: str
    workspace: Path
    token: str = ""
    no_token: bool = False  # loopback only (`cnilab serve --no-token`)
    port: int = 0  # 0: any free one
    allowed_hosts: list[str] = field(default_factory=list)
    max_terminals: int = MAX_TERMINALS
    nodes: RealNodes | None = None


class RemoteTerminals(Protocol):
    """Terminals on another node (lab.agent.terminal_client.AgentTerminals)."""

    async def open(self, spec: str, cols: int, rows: int) -> Channel:
        """A channel to a shell there; TargetError (saying why) if there is none."""


@dataclass
class RealNodes:
    """The nodes of a real-node lab: this host's (if it is one) and the others' agents."""

    local: ServedNode | None
    remote: Mapping[str, RemoteTerminals]
    env: dict[str, str] = field(default_factory=dict)  # for `cnilab` in this host's shells


def origin_allowed(origin: str | None, host: str, config: TerminalConfig) -> bool:
    """The course page's own origin: http(s)://HOST:APP_PORT, HOST the one we are reached as."""
    if not origin:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return False
    default = 443 if parts.scheme == "https" else 80
    ours, theirs = split_host(host), split_host(parts.netloc)
    return (
        ours is not None
        and theirs is not None
        and ours[0] == theirs[0]
        and host_allowed(parts.netloc, config.app_port, config.allowed_hosts, default)
    )


def one_header(request: Request, name: str) -> str | None:
    """A header sent exactly once; None when missing or sent twice (which one to trust?)."""
    values = request.headers.get_all(name)
    return values[0] if len(values) == 1 else None


def token_ok(given: str, config: TerminalConfig) -> bool:
    if config.no_token:
        return True
    if not config.token:
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), config.token.encode("utf-8", "surrogateescape")
    )


def step_folder(workspace: Path, step: str) -> Path:
    """The step's folder in the workspace if it is a real folder, else the workspace."""
    from lab.exercises.workspace import Workspace

    ex = get_exercise(step)
    for folder in (Workspace(workspace).file_for(ex).parent, workspace):
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(folder).st_mode):
                return folder
    return Path(os.environ.get("HOME", "/root"))


class TerminalServer:
    def __init__(self, config: TerminalConfig) -> None:
        self.config = config
        self.shells: set[Shell | Relayed] = set()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- life --------------------------------------------------------------------------
    def start(self) -> int:
        """Listen (in a thread of its own); returns the port. OSError if it cannot."""
        self._thread = threading.Thread(target=self._run, name="cnilab-terminals", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self.port

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(self._listen())
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as e:
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _listen(self) -> Server:
        return await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._gate,
            compression=None,  # keystrokes are tiny; and no inflating a bomb
            max_size=MAX_INPUT,
            open_timeout=10,
            server_header="cnilab",
            logger=log,
        )

    def stop(self) -> None:
        """Close every connection and end every shell; idempotent."""
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=15)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=15)
        for shell in list(self.shells):  # whatever the loop could not reach
            shell.close()
        self.shells.clear()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- the gates ---------------------------------------------------------------------
    def _gate(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        host, origin = one_header(request, "Host") or "", one_header(request, "Origin")
        if parts.path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such terminal route\n")
        if not host_allowed(host, self.port, self.config.allowed_hosts, 80):
            return connection.respond(HTTPStatus.FORBIDDEN, "not one of this server's names\n")
        if not origin_allowed(origin, host, self.config):
            return connection.respond(HTTPStatus.FORBIDDEN, "only the course page opens one\n")
        given = parse_qs(parts.query).get("token", [""])[0]
        if not token_ok(given, self.config):
            return connection.respond(HTTPStatus.FORBIDDEN, "missing or wrong token\n")
        if len(self.shells) >= self.config.max_terminals:
            response = connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "too many terminals open: close one\n"
            )
            response.headers["Retry-After"] = RETRY_AFTER
            return response
        return None

    # -- a terminal --------------------------------------------------------------------
    def _real_nodes(self) -> bool:
        """Serving real nodes: agents given, and no embedded lab up here."""
        nodes = self.config.nodes
        return nodes is not None and load_plan(self.config.state_dir) is None

    def _local_shell(self, one: dict[str, str], cols: int, rows: int) -> Shell:
        """The shell the page asked for on this host, or TargetError saying why not."""
        nodes = self.config.nodes
        if self._real_nodes():
            assert nodes is not None and nodes.local is not None
            target = resolve_on_node(nodes.local, one.get("target", ""))
            env = nodes.env or lab_env(self.config.state_dir, self.config.workspace)
        else:
            plan = load_plan(self.config.state_dir)
            if plan is None:
                raise TargetError("no lab is up: run `cnilab up`")
            target = resolve(plan, one.get("target", ""))
            env = lab_env(self.config.state_dir, self.config.workspace)
        try:
            folder = step_folder(self.config.workspace, one.get("step", "1"))
        except ExerciseError as e:
            raise TargetError(str(e)) from None
        return Shell(target, folder, env, cols, rows)

    def _remote(self, spec: str) -> tuple[str, RemoteTerminals] | None:
        """The agent a real-node target is reached through, or None: it is on this host."""
        nodes = self.config.nodes
        if nodes is None or not self._real_nodes():
            return None
        node = node_of(spec)
        if nodes.local is not None and node == nodes.local.node:
            return None
        if node not in nodes.remote:
            known = sorted([*nodes.remote, *([nodes.local.node] if nodes.local else [])])
            raise TargetError(f"unknown node {node!r}: {', '.join(known)}")
        return node, nodes.remote[node]

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        if len(self.shells) >= self.config.max_terminals:  # two raced through the gate
            await connection.close(1013, "too many terminals open: close one")
            return
        query = parse_qs(urlsplit(connection.request.path).query)
        one = {k: v[0] for k, v in query.items() if v}
        cols, rows = (int(one[k]) if one.get(k, "").isdigit() else 0 for k in ("cols", "rows"))
        cols, rows = clamp_size(cols, rows)
        page = WebSocketChannel(connection)
        try:
            remote = self._remote(one.get("target", ""))
            if remote is not None:
                await self._relay(page, remote, one.get("target", ""), cols, rows)
                return
            shell = self._local_shell(one, cols, rows)
        except (TargetError, ShellError) as e:
            await connection.close(1008, str(e)[:120])
            return
        ready = {**shell.target.to_dict(), "pid": shell.pid, "cwd": str(shell.cwd)}
        await serve_shell(page, shell, ready, self.shells)

    async def _relay(
        self, page: Channel, remote: tuple[str, RemoteTerminals], spec: str, cols: int, rows: int
    ) -> None:
        """A terminal on another node, through its agent: the page never sees the agent."""
        node, terminals = remote
        held = Relayed(node)
        self.shells.add(held)  # counts against the cap while it opens, too
        try:
            far = await terminals.open(spec, cols, rows)
            try:
                await relay(page, far, {"id": spec, "node": node})
            finally:
                await far.close(1000, "the page closed the terminal")
        finally:
            self.shells.discard(held)


class Relayed:
    """A place in the cap held by a terminal on another node (its shell is there)."""

    def __init__(self, node: str) -> None:
        self.node = node

    def close(self) -> None:  # the shell is the agent's to end, when the link closes
        pass


class WebSocketChannel:
    """A `websockets` connection (the page's, or ours to an agent) as a Channel."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def recv(self) -> bytes | str | None:
        try:
            return await self.connection.recv()
        except ConnectionClosed:
            return None

    async def send(self, data: bytes | str) -> None:
        try:
            await self.connection.send(data)
        except ConnectionClosed:
            raise ChannelClosed from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.connection.close(code, reason)

    def closed_with(self) -> tuple[int | None, str]:
        received = self.connection.protocol.close_rcvd
        return (received.code, received.reason) if received else (None, "")

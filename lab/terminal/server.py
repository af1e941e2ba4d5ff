"""The terminal server: WebSockets on a port of their own, beside the web app.

waitress speaks no WebSocket, so `cnilab serve` runs this small asyncio server (the
`websockets` package) in a thread. Every connection passes these gates before the
upgrade, in order: the path; the Host, as the web app's HostGuard checks it; the
Origin, which must be sent and must be the course page's own origin (a WebSocket is
not bound by the same-origin policy: any page the student visits could open one); the
token (`?token=`: a browser cannot set headers on a WebSocket); and the cap on open
terminals (503 with Retry-After). Then the step and the target are checked, and a
shell starts (lab.terminal.shell). Whatever ends the connection (the tab closed, the
network, the server stopping) ends the shell and everything it started.

Frames: binary both ways is the terminal's bytes; text from the page is JSON
`{"type": "resize", "cols": C, "rows": R}`; text to the page is JSON `ready` (target,
folder, pid) first and `exit` when the shell ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import stat
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from lab.cluster.plan import load_plan
from lab.exercises.catalog import ExerciseError, get_exercise
from lab.hostguard import host_allowed, split_host
from lab.terminal.shell import Shell, ShellError, clamp_size
from lab.terminal.targets import TargetError, resolve

PATH = "/terminal"
MAX_TERMINALS = 8
MAX_INPUT = 64 * 1024  # one frame from the page: a paste, never a file upload
READ_CHUNK = 64 * 1024
QUEUE_HIGH, QUEUE_LOW = 64, 8  # output frames waiting: stop reading the pty, read again
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
        self.shells: set[Shell] = set()
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
    def _open(self, query: dict[str, list[str]]) -> Shell:
        """The shell the page asked for, or ValueError saying why not."""
        one = {k: v[0] for k, v in query.items() if v}
        plan = load_plan(self.config.state_dir)
        if plan is None:
            raise TargetError("no lab is up: run `cnilab up`")
        target = resolve(plan, one.get("target", ""))
        try:
            folder = step_folder(self.config.workspace, one.get("step", "1"))
        except ExerciseError as e:
            raise TargetError(str(e)) from None
        cols, rows = (int(one[k]) if one.get(k, "").isdigit() else 0 for k in ("cols", "rows"))
        cols, rows = clamp_size(cols, rows)
        return Shell(target, folder, self.config.state_dir, self.config.workspace, cols, rows)

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        if len(self.shells) >= self.config.max_terminals:  # two raced through the gate
            await connection.close(1013, "too many terminals open: close one")
            return
        try:
            shell = self._open(parse_qs(urlsplit(connection.request.path).query))
        except (TargetError, ShellError) as e:
            await connection.close(1008, str(e)[:120])
            return
        self.shells.add(shell)
        loop = asyncio.get_running_loop()
        try:
            ready = {"type": "ready", **shell.target.to_dict(), "pid": shell.pid}
            await connection.send(json.dumps({**ready, "cwd": str(shell.cwd)}))
            await self._pump(connection, shell, loop)
        except ConnectionClosed:
            pass
        finally:
            self.shells.discard(shell)
            await loop.run_in_executor(None, shell.close)

    async def _pump(
        self, connection: ServerConnection, shell: Shell, loop: asyncio.AbstractEventLoop
    ) -> None:
        output: asyncio.Queue[bytes | None] = asyncio.Queue()
        reading = True

        def readable() -> None:
            nonlocal reading
            try:
                data = os.read(shell.fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:  # EIO: the shell and every holder of the pty are gone
                data = b""
            if not data:
                loop.remove_reader(shell.fd)
                output.put_nowait(None)
                return
            output.put_nowait(data)
            if output.qsize() >= QUEUE_HIGH:  # a slow page: let the pty fill, not our memory
                loop.remove_reader(shell.fd)
                reading = False

        async def send() -> None:
            nonlocal reading
            while True:
                data = await output.get()
                if data is None:
                    await connection.send(json.dumps({"type": "exit"}))
                    await connection.close(1000, "the shell ended")
                    return
                while not output.empty() and len(data) < READ_CHUNK:
                    more = output.get_nowait()
                    if more is None:
                        output.put_nowait(None)
                        break
                    data += more
                await connection.send(data)
                if not reading and output.qsize() <= QUEUE_LOW:
                    reading = True
                    loop.add_reader(shell.fd, readable)

        loop.add_reader(shell.fd, readable)
        sender = asyncio.create_task(send())
        try:
            async for message in connection:
                if isinstance(message, bytes):
                    await write_all(loop, shell.fd, message)
                else:
                    control(shell, message)
                if sender.done():
                    break
        finally:
            loop.remove_reader(shell.fd)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender


def control(shell: Shell, message: str) -> None:
    """A text frame from the page: a resize; anything else is ignored."""
    try:
        data: Any = json.loads(message)
    except ValueError:
        return
    if isinstance(data, dict) and data.get("type") == "resize":
        shell.resize(*clamp_size(data.get("cols"), data.get("rows")))


async def write_all(loop: asyncio.AbstractEventLoop, fd: int, data: bytes) -> None:
    """Write to the pty without blocking the loop (a paste into a busy shell waits)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            ready = loop.create_future()
            loop.add_writer(fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_writer(fd)
        except OSError:  # the shell is gone; the reader says so
            return

"""A shell's pty and a WebSocket, joined: whatever speaks WebSocket (the terminal
server's `websockets`, the agent's ASGI endpoint, the relay to an agent) is a Channel.

Frames: binary both ways is the terminal's bytes; text from the page is JSON
`{"type": "resize", "cols": C, "rows": R}`; text to the page is JSON `ready` (target,
folder, pid) first and `exit` when the shell ends. The pty is read only while fewer
than QUEUE_HIGH frames wait for a slow page: then the pty fills, not our memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import Any, Protocol

from lab.terminal.shell import Shell, clamp_size

READ_CHUNK = 64 * 1024
QUEUE_HIGH, QUEUE_LOW = 64, 8  # output frames waiting: stop reading the pty, read again


class ChannelClosed(Exception):
    """The other end is gone."""


class Channel(Protocol):
    async def recv(self) -> bytes | str | None:
        """The next frame; None once the other end has closed."""

    async def send(self, data: bytes | str) -> None:
        """ChannelClosed if the other end is gone."""

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def closed_with(self) -> tuple[int | None, str]:
        """The close code and reason the other end sent (None: it dropped)."""


def resize_of(message: str) -> tuple[int, int] | None:
    """A text frame from the page: a resize, clamped; anything else is None (ignored)."""
    try:
        data: Any = json.loads(message)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") == "resize":
        return clamp_size(data.get("cols"), data.get("rows"))
    return None


async def serve_shell(
    channel: Channel, shell: Shell, ready: dict[str, Any], shells: set[Any]
) -> None:
    """Say ready, join the two until either ends, then end the shell and all it started
    (out of `shells`, the cap's count, first: the page may open the next one now)."""
    loop = asyncio.get_running_loop()
    shells.add(shell)
    try:
        await channel.send(json.dumps({"type": "ready", **ready}))
        await pump(channel, shell, loop)
    except ChannelClosed:
        pass
    finally:
        shells.discard(shell)
        await loop.run_in_executor(None, shell.close)


async def pump(channel: Channel, shell: Shell, loop: asyncio.AbstractEventLoop) -> None:
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
        if output.qsize() >= QUEUE_HIGH:
            loop.remove_reader(shell.fd)
            reading = False

    async def send() -> None:
        nonlocal reading
        while True:
            data = await output.get()
            if data is None:
                await channel.send(json.dumps({"type": "exit"}))
                await channel.close(1000, "the shell ended")
                return
            while not output.empty() and len(data) < READ_CHUNK:
                more = output.get_nowait()
                if more is None:
                    output.put_nowait(None)
                    break
                data += more
            await channel.send(data)
            if not reading and output.qsize() <= QUEUE_LOW:
                reading = True
                loop.add_reader(shell.fd, readable)

    loop.add_reader(shell.fd, readable)
    sender = asyncio.create_task(send())
    receiver = asyncio.create_task(_receive(channel, shell, loop))
    try:
        await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(shell.fd)
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, ChannelClosed):
                await task


async def _receive(channel: Channel, shell: Shell, loop: asyncio.AbstractEventLoop) -> None:
    while (message := await channel.recv()) is not None:
        if isinstance(message, bytes):
            await write_all(loop, shell.fd, message)
        elif (size := resize_of(message)) is not None:
            shell.resize(*size)


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


async def relay(page: Channel, remote: Channel, rename: dict[str, str]) -> None:
    """Join the page to a terminal on another node: its `ready` renamed to how the page
    knows the target, resizes passed on only as clean JSON, and whichever side ends
    (the page, the link, the far shell) ends the other."""
    first = await remote.recv()
    if not isinstance(first, str):
        code, reason = remote.closed_with()
        await page.close(1008 if code in (1008, 1013) else 1011, _far(rename, reason))
        return
    with contextlib.suppress(ValueError, AttributeError):
        ready = json.loads(first)
        first = json.dumps({**ready, **rename} if isinstance(ready, dict) else ready)
    await page.send(first)

    async def down() -> None:
        while (message := await remote.recv()) is not None:
            await page.send(message)
        code, reason = remote.closed_with()
        if code == 1000:
            await page.close(1000, reason)
        else:
            await page.close(1011, _far(rename, reason or "the link to it dropped"))

    async def up() -> None:
        while (message := await page.recv()) is not None:
            if isinstance(message, bytes):
                await remote.send(message)
            elif (size := resize_of(message)) is not None:
                await remote.send(json.dumps({"type": "resize", "cols": size[0], "rows": size[1]}))

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ChannelClosed):
                await task
        await remote.close(1000, "the page closed the terminal")


def _far(rename: dict[str, str], reason: str) -> str:
    return f"{rename.get('node', 'the node')}: {reason or 'the terminal could not open'}"[:120]

"""QEMU's guest agent over its virtio-serial socket: run a command as root and read its
output, write a file. The test's way into a VM, as ssh is Vagrant's; no network involved."""

from __future__ import annotations

import base64
import json
import random
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_LINE = 64 * 1024 * 1024


class GuestError(RuntimeError):
    """The guest agent did not answer, or answered with an error."""


@dataclass(frozen=True)
class Completed:
    """What a command in the guest did."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Completed:
        if self.returncode != 0:
            raise GuestError(
                f"{' '.join(self.argv)} exited {self.returncode}\n{self.stdout}\n{self.stderr}"
            )
        return self


class GuestAgent:
    """One connection to a VM's guest agent; reconnect() after the VM reboots."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = b""

    def _send(self, message: dict[str, Any]) -> None:
        assert self.sock is not None
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def _reply(self, timeout: float) -> dict[str, Any]:
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestError("the guest agent did not answer in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError as e:
                raise GuestError("the guest agent did not answer in time") from e
            if not chunk:
                raise GuestError("the guest agent closed its socket")
            self.buffer += chunk
            if len(self.buffer) > MAX_LINE:
                raise GuestError("the guest agent's answer is too long")
        line, self.buffer = self.buffer.split(b"\n", 1)
        # a reboot can leave the 0xff sync marker or half a line before it
        line = line.replace(b"\xff", b"").strip()
        if not line:
            return self._reply(max(deadline - time.monotonic(), 0.1))
        return json.loads(line)

    def connect(self, timeout: float) -> None:
        """Waits until the agent in the guest answers a sync (it starts late in boot)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            self.close()
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(str(self.path))
                token = random.randrange(1, 2**31)
                self._send({"execute": "guest-sync-delimited", "arguments": {"id": token}})
                while self._reply(timeout=5).get("return") != token:
                    pass
                return
            except (OSError, GuestError, json.JSONDecodeError) as e:
                last = e
                time.sleep(1)
        self.close()
        raise GuestError(f"no guest agent on {self.path} after {timeout:.0f} s: {last}")

    def call(self, command: str, timeout: float = 30, **arguments: Any) -> Any:
        if self.sock is None:
            raise GuestError("not connected to the guest agent")
        self._send({"execute": command, "arguments": arguments})
        reply = self._reply(timeout)
        if "error" in reply:
            raise GuestError(f"{command}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def run(self, argv: list[str], timeout: float = 120, stdin: bytes = b"") -> Completed:
        """Runs argv as root in the guest and waits for it (no shell unless argv is one)."""
        extra = {"input-data": base64.b64encode(stdin).decode()} if stdin else {}
        pid = self.call(
            "guest-exec", path=argv[0], arg=argv[1:], **{"capture-output": True}, **extra
        )["pid"]
        deadline = time.monotonic() + timeout
        while True:
            status = self.call("guest-exec-status", pid=pid)
            if status.get("exited"):
                break
            if time.monotonic() > deadline:
                raise GuestError(f"{' '.join(argv)} still running after {timeout:.0f} s")
            time.sleep(0.5)
        return Completed(
            argv,
            int(status.get("exitcode", -status.get("signal", 1))),
            base64.b64decode(status.get("out-data", "")).decode(errors="replace"),
            base64.b64decode(status.get("err-data", "")).decode(errors="replace"),
        )

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Writes a file in the guest, as Vagrant's file provisioner uploads one."""
        handle = self.call("guest-file-open", path=path, mode="w")
        try:
            for start in range(0, len(data), 1 << 20):
                chunk = base64.b64encode(data[start : start + (1 << 20)]).decode()
                self.call("guest-file-write", handle=handle, **{"buf-b64": chunk})
        finally:
            self.call("guest-file-close", handle=handle)
        self.run(["/bin/chmod", f"{mode:o}", path]).check()

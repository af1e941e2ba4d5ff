"""One terminal's shell: root bash on a pty, inside one lab namespace, and its end.

    setpriv --pdeathsig KILL   the shell dies if the server thread that started it does
    setsid --ctty              a session of its own, the pty as controlling terminal
    nsenter --net=/run/netns/X the namespace the student picked (the network one only)
    bash --norc --noprofile -i a prompt naming that namespace, `cnilab` on PATH

The pid stays the same through every exec, so the shell's pid is its session id.
`close()` ends the shell and everything it started: every process of its session,
every descendant (a command that made a session of its own), and every process that
still carries the terminal's marker in its environment (one that also left its
parent), killed until none is left. Tests prove it with processes that try each way out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

from lab.terminal.targets import Target

MARKER = "CNILAB_TERMINAL"
COLS = (2, 500)
ROWS = (2, 200)
KILL_ROUNDS = 100  # passes over /proc: each finds what the last one's victims forked


class ShellError(OSError):
    pass


def clamp_size(cols: object, rows: object) -> tuple[int, int]:
    """A window size from the page: whole numbers in range, else 80x24."""
    c = cols if type(cols) is int and COLS[0] <= cols <= COLS[1] else 80
    r = rows if type(rows) is int and ROWS[0] <= rows <= ROWS[1] else 24
    return c, r


def lab_env(state_dir: str, workspace: Path, prefix: str = "") -> dict[str, str]:
    """What `cnilab` in the shell needs to find the lab and the student's files."""
    env = {"CNILAB_STATE_DIR": state_dir, "CNILAB_WORKSPACE": str(workspace)}
    return {**env, "CNILAB_PREFIX": prefix} if prefix else env


def shell_env(target: Target, extra: dict[str, str], marker: str) -> dict[str, str]:
    """A clean environment: nothing of the server's own (its token) leaks into the shell."""
    bin_dir = str(Path(sys.executable).parent)  # the venv's: cnilab, pycni
    return {
        "PATH": f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "PS1": f"({target.label}) \\W# ",
        **extra,
        MARKER: marker,
    }


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _processes() -> Iterator[tuple[int, int, int]]:
    """(pid, ppid, session) of every live process (zombies are dead: only reaped)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # after "(comm)", which may hold spaces
        if fields[0] != b"Z":
            yield int(entry.name), int(fields[1]), int(fields[3])


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker in f.read().split(b"\0")
    except OSError:
        return False


def session_processes(sid: int, marker: str) -> set[int]:
    """Every live process that belongs to the terminal whose shell is `sid`."""
    table = list(_processes())
    mine = {pid for pid, _, session in table if session == sid or pid == sid}
    grew = True
    while grew:  # descendants, whatever session they made
        more = {pid for pid, ppid, _ in table if ppid in mine and pid not in mine}
        mine |= more
        grew = bool(more)
    tag = f"{MARKER}={marker}".encode()
    mine |= {pid for pid, _, _ in table if pid not in mine and _has_marker(pid, tag)}
    mine.discard(os.getpid())
    return mine


class Shell:
    """A root shell on a pty in `target`'s namespace, working in `cwd`."""

    def __init__(
        self, target: Target, cwd: Path, env: dict[str, str], cols: int, rows: int
    ) -> None:
        self.target = target
        self.cwd = cwd
        self.marker = secrets.token_hex(8)
        master, slave = os.openpty()
        try:
            _set_size(slave, cols, rows)
            argv = [
                "setpriv", "--pdeathsig", "KILL", "--",
                "setsid", "--ctty",
                "nsenter", f"--net={target.netns_path}", "--",
                "bash", "--norc", "--noprofile", "-i",
            ]  # fmt: skip
            self.process = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=cwd,
                env=shell_env(target, env, self.marker),
                close_fds=True,
            )
        except OSError as e:
            os.close(master)
            raise ShellError(
                e.errno, f"cannot start a shell on {target.label}: {e.strerror}"
            ) from None
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self.fd = master
        self.pid = self.process.pid
        self.closed = False

    def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(OSError):
            _set_size(self.fd, cols, rows)

    def close(self) -> None:
        """End the shell and every process it started; idempotent."""
        if self.closed:
            return
        self.closed = True
        for _ in range(KILL_ROUNDS):
            left = session_processes(self.pid, self.marker)
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                self.process.poll()  # reap the shell itself, or it lingers as a zombie
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        os.close(self.fd)

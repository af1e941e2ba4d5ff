"""Starting `pycni daemon` from a call, finding it by namespace, stopping it.

The thin `pycni` that found no daemon starts one for the calls after it: detached
(its own session, stdio on /dev/null, none of the runtime's descriptors, cwd /)
in the network namespace the call runs in, the node's. Two calls that start one
at once are safe: the second daemon cannot bind the abstract socket and leaves.

The conflist turns this off with `"startDaemon": false`; `daemonIdleExit` sets
how long an auto-started daemon stays without calls (seconds). PYCNI_NO_DAEMON=1
in the call's environment turns off the daemon altogether (no use, no start).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from lab.cni.errors import CNIError, ErrorCode

DAEMON_NAME, WORKER_NAME = "pycni-daemon", "pycni-worker"  # their /proc/PID/comm
DEFAULT_IDLE_EXIT = 120.0
MAX_IDLE_EXIT = 86400.0
DAEMON_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class DaemonOptions:
    start: bool = True
    idle_exit: float = DEFAULT_IDLE_EXIT


def parse_options(raw: dict[str, Any]) -> DaemonOptions:
    """The conflist's startDaemon and daemonIdleExit; a wrong type is error 7."""
    start = raw.get("startDaemon", True)
    if not isinstance(start, bool):
        raise CNIError(ErrorCode.INVALID_CONFIG, f"startDaemon must be true or false: {start!r}")
    idle = raw.get("daemonIdleExit", DEFAULT_IDLE_EXIT)
    number = isinstance(idle, int | float) and not isinstance(idle, bool)
    if not number or not 1 <= idle <= MAX_IDLE_EXIT:
        raise CNIError(
            ErrorCode.INVALID_CONFIG,
            f"daemonIdleExit must be a number of seconds from 1 to {MAX_IDLE_EXIT:.0f}: {idle!r}",
        )
    return DaemonOptions(start, float(idle))


def daemon_argv(idle_exit: float) -> list[str]:
    """This interpreter, isolated, with this process's import path: what the launcher did."""
    paths = [p for p in sys.path if p]
    boot = f"import sys; sys.path[:0] = {paths!r}; from lab.pycni.entry import main; main()"
    return [sys.executable, "-I", "-S", "-c", boot, "daemon", "--idle-exit", f"{idle_exit:g}"]


def start_detached(idle_exit: float) -> int:
    import subprocess

    proc = subprocess.Popen(
        daemon_argv(idle_exit),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
        cwd="/",
        env={"PATH": DAEMON_PATH},
    )
    proc.returncode = 0  # never waited for: it outlives us (and Popen must not warn)
    return proc.pid


def start_for_call(stdin: bytes) -> int | None:
    """Start a daemon for the calls after this one, if the config allows; never fails the
    call (a config that does not parse is the plugin's to report, with its error code)."""
    try:
        raw = json.loads(stdin)
        if not isinstance(raw, dict) or not parse_options(raw).start:
            return None
        return start_detached(parse_options(raw).idle_exit)
    except (ValueError, CNIError, OSError):
        return None


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def processes_in(netns_path: str, names: tuple[str, ...] = (DAEMON_NAME,)) -> list[int]:
    """Pids of the processes named `names` whose network namespace is `netns_path`'s."""
    try:
        target = os.stat(netns_path)
    except OSError:
        return []
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and _comm(pid) in names:
            with contextlib.suppress(OSError):
                ns = os.stat(f"/proc/{pid}/ns/net")
                if (ns.st_ino, ns.st_dev) == (target.st_ino, target.st_dev):
                    found.append(int(pid))
    return found


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def daemons_in(netns_path: str) -> list[int]:
    """The daemon masters of this namespace: a worker just forked bears its master's name
    until it renames itself, and its parent is that master."""
    named = processes_in(netns_path)
    return [pid for pid in named if _parent(pid) not in named]


def _gone(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # ours (a test, `cnilab up` in-process): reap it
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def stop_daemons_in(netns_path: str, timeout: float = 5.0) -> list[int]:
    """SIGTERM the daemons of this namespace, SIGKILL what is left of them (and of their
    workers) after `timeout`. Returns the daemons' pids."""
    daemons = daemons_in(netns_path)
    for pid in daemons:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    left = daemons
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [pid for pid in left if not _gone(pid)]
    for pid in left + processes_in(netns_path, (DAEMON_NAME, WORKER_NAME)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return daemons

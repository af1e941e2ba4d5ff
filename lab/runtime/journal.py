"""The journal of CNI calls: what the runtime sent each plugin and what came back.

One JSON object per line, appended under a lock, so `cnilab calls` and the web app
can show the exact env, stdin, stdout, stderr, exit code and duration of every call,
failed ones included.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lab.cni.invoke import Execution
from lab.runtime.student import label_of


def _network_of(stdin: bytes) -> str:
    """The network a config names (a runtime's call always names one)."""
    try:
        conf = json.loads(stdin)
    except ValueError:
        return ""
    return str(conf.get("name", "")) if isinstance(conf, dict) else ""


def record_of(ex: Execution, node: str, network: str | None = None) -> dict[str, Any]:
    """`network` defaults to the name in the config the plugin got."""
    env = {k: v for k, v in ex.env.items() if k.startswith("CNI_")}
    return {
        "time": round(time.time(), 3),
        "node": node,
        "network": _network_of(ex.stdin) if network is None else network,
        "plugin": label_of(ex.argv[-1]) or ex.plugin if ex.argv else ex.plugin,
        "command": env.get("CNI_COMMAND", ""),
        "container_id": env.get("CNI_CONTAINERID", ""),
        "ifname": env.get("CNI_IFNAME", ""),
        "env": env,
        "stdin": ex.stdin.decode(errors="replace"),
        "stdout": ex.stdout.decode(errors="replace"),
        "stderr": ex.stderr.decode(errors="replace"),
        "exit": ex.returncode,
        "ms": round(ex.seconds * 1000, 1),
    }


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def sink(self, node: str, network: str | None = None) -> Callable[[Execution], None]:
        """What a JournalingExec calls with each run on `node`."""
        return lambda ex: self.append(record_of(ex, node, network))

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open() as f:
                for line in f:
                    if line.strip():
                        yield json.loads(line)
        except FileNotFoundError:
            return

    def tail(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self)[-limit:] if limit > 0 else list(self)

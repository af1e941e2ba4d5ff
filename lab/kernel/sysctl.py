"""Per-namespace sysctls: /proc/sys/net reflects the namespace of the thread that opens it."""

from __future__ import annotations

import re

_KEY = re.compile(r"^net(\.[A-Za-z0-9_-]+)+$")


def _path(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"not a network sysctl: {key!r}")
    return "/proc/sys/" + key.replace(".", "/")


def read_sysctl(key: str) -> str:
    with open(_path(key)) as f:
        return f.read().strip()


def write_sysctl(key: str, value: str) -> None:
    """Write only when different: a write costs more than a read and may be refused."""
    if read_sysctl(key) != value:
        with open(_path(key), "w") as f:
            f.write(value)

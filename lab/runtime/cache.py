"""libcni's result cache: the final result of ADD, kept for CHECK and DEL.

Same place and shape as libcni: <cacheDir>/results/<network>-<containerID>-<ifname>,
a JSON object of kind "cniCacheV1", mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def _path(cache_dir: str | Path, network: str, container_id: str, ifname: str) -> Path:
    return Path(cache_dir) / "results" / f"{network}-{container_id}-{ifname}"


def save(cache_dir: str | Path, entry: dict[str, Any]) -> None:
    path = _path(cache_dir, entry["networkName"], entry["containerId"], entry["ifName"])
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"kind": "cniCacheV1", **entry}, f)
    os.replace(tmp, path)


def load(cache_dir: str | Path, network: str, container_id: str, ifname: str) -> dict | None:
    try:
        return json.loads(_path(cache_dir, network, container_id, ifname).read_text())
    except (FileNotFoundError, ValueError):
        return None


def remove(cache_dir: str | Path, network: str, container_id: str, ifname: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _path(cache_dir, network, container_id, ifname).unlink()

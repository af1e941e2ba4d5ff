"""The record `cnilab node init` keeps of what it changed, so `--undo` can put it back.

A real host outlives the lab: its ip_forward, routes and firewall were someone's
choice before us. The first init writes down how they were (before changing them),
later runs keep that first record, and undo restores from it, then deletes the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.cluster.firewall import Opening, openings_from
from lab.cluster.node_setup import Peer
from lab.cluster.node_spec import NodeSpec

STATE_FILE = Path("/var/lib/cnilab/node.json")
MARK = "written by `cnilab node init`: what it changed, for `cnilab node init --undo`"
VERSION = 1


class StateError(RuntimeError):
    pass


@dataclass
class Before:
    """How the host was before the first init (only what init may change)."""

    ip_forward: str
    forwarding: dict[str, str]  # conf/<dev>/forwarding: writing ip_forward resets them all
    accept_redirects: str  # conf/all/accept_redirects: the kernel flips it with ip_forward
    bridge_existed: bool
    bridge_up: bool  # ensure_bridge sets it up
    gateway_existed: bool
    masquerade_existed: bool
    routes: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # peer CIDR -> old


@dataclass
class NodeState:
    spec: NodeSpec
    netns: str | None  # None: the host itself; else the namespace standing in for it
    before: Before
    openings: list[Opening] = field(default_factory=list)

    def to_json(self) -> str:
        data = {
            "cnilab": MARK,
            "version": VERSION,
            "netns": self.netns,
            "spec": {**asdict(self.spec), "peers": [asdict(p) for p in self.spec.peers]},
            "before": asdict(self.before),
            "openings": [o.to_dict() for o in self.openings],
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> NodeState:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("cnilab") != MARK:
            raise ValueError("not written by cnilab node init")
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, this cnilab reads {VERSION}")
        spec = dict(data["spec"])
        spec["peers"] = tuple(Peer(**p) for p in spec["peers"])
        return cls(
            spec=NodeSpec(**spec),
            netns=data["netns"],
            before=Before(**data["before"]),
            openings=openings_from(data["openings"]),
        )


def load_state(path: Path) -> NodeState | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"cannot read the state file {path}: {e.strerror}") from None
    try:
        return NodeState.from_json(text)
    except (ValueError, KeyError, TypeError) as e:
        raise StateError(f"{path} is not a state file of cnilab node init ({e})") from None


def save_state(path: Path, state: NodeState) -> None:
    """Atomically: a crash mid-write must not lose the record of how the host was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(state.to_json())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

"""Where the page finds its terminals: the terminal server's port (lab.terminal.server,
started by `cnilab serve`), the cap, and the places a shell may open. Off (and saying
why) in read-only, on a non-loopback bind without --allow-terminal, or in tests.

The places: the embedded lab's nodes, underlay and pods; or, on real nodes (agents and
no embedded lab: the Vagrant lab), this host's node and its pods (TERMINAL["local"],
a lab.agent.scope.NodeScope) and every other node's, as its agent lists them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from app.labstate import get_lab
from lab.agent.terminal_client import remote_targets
from lab.terminal.targets import Target, list_targets, node_targets

bp = Blueprint("terminal", __name__)
OFF = "terminals are off in this cnilab (`cnilab serve` starts them on loopback)"


def targets(config: dict[str, Any]) -> list[Target]:
    lab = get_lab()
    plan = lab.plan()
    if plan is not None or not lab.agents:
        return list_targets(plan) if plan else []
    local = config.get("local")
    found = node_targets(local) if local is not None else []
    for ref in lab.agents:
        if local is None or ref.name != local.node:
            found += remote_targets(ref)
    return found


@bp.get("/api/terminal")
def info() -> Any:
    config = current_app.config.get("TERMINAL")
    if not config:
        return jsonify({"enabled": False, "reason": current_app.config["TERMINAL_OFF"] or OFF})
    return jsonify(
        {
            "enabled": True,
            "port": config["port"],
            "path": "/terminal",
            "max": config["max"],
            "targets": [t.to_dict() for t in targets(config)],
        }
    )

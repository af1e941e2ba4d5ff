"""Where the page finds its terminals: the terminal server's port (lab.terminal.server,
started by `cnilab serve`), the cap, and the places a shell may open. Off (and saying
why) in read-only, on a non-loopback bind without --allow-terminal, or in tests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from app.labstate import get_lab
from lab.terminal.targets import list_targets

bp = Blueprint("terminal", __name__)
OFF = "terminals are off in this cnilab (`cnilab serve` starts them on loopback)"


@bp.get("/api/terminal")
def info() -> Any:
    config = current_app.config.get("TERMINAL")
    if not config:
        return jsonify({"enabled": False, "reason": current_app.config["TERMINAL_OFF"] or OFF})
    plan = get_lab().plan()
    return jsonify(
        {
            "enabled": True,
            "port": config["port"],
            "path": "/terminal",
            "max": config["max"],
            "targets": [t.to_dict() for t in list_targets(plan)] if plan else [],
        }
    )

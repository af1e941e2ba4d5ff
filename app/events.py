"""Server-Sent Events: a topology snapshot each time the kernel changes, new CNI calls.

Headers are final before the first yield (Flask's streaming pattern), and the
generator holds no request context: it only reads the hub and the journal file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response

from app.labstate import LabHandle, get_lab

bp = Blueprint("events", __name__)
HEARTBEAT = 15.0
POLL = 0.25


def _event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _journal_size(lab: LabHandle) -> int:
    journal = lab.journal()
    try:
        return os.stat(journal.path).st_size if journal else 0
    except FileNotFoundError:
        return 0


def stream(lab: LabHandle) -> Iterator[str]:
    version, idle = 0, 0.0
    calls_seen = _journal_size(lab)
    yield "retry: 1000\n\n"
    while True:
        new_version, snapshot = lab.hub.wait(version, timeout=POLL)
        if new_version > version and snapshot is not None:
            version, idle = new_version, 0.0
            yield _event("topology", snapshot)
        size = _journal_size(lab)
        if size != calls_seen:
            calls_seen, idle = size, 0.0
            journal = lab.journal()
            yield _event("calls", journal.tail(20) if journal else [])
        idle += POLL
        if idle >= HEARTBEAT:
            idle = 0.0
            yield ": keep-alive\n\n"


@bp.get("/api/events")
def events() -> Response:
    lab = get_lab()
    lab.ensure_live()
    return Response(
        stream(lab),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

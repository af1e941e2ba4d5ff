"""Server-Sent Events: the topology each time the kernel changes, the newest CNI calls.

Every stream reads the lab's one Hub (lab.live): no stream polls anything itself. On
connect a stream sends what the hub holds now (the full topology); then each topic as
it is published, the topology as a delta when the page asked for them (?deltas=1)
and saw the version before, else in full (lab.live.topology_feed).
At most MAX_STREAMS are open at once; one more answers 503 with Retry-After, so a
flood of streams never takes the threads that the page's own requests need.
Headers are final before the first yield (Flask's streaming pattern), and the
generator holds no request context.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from app.labstate import LabHandle, get_lab
from lab.live.topology_feed import TopologyItem, sse

bp = Blueprint("events", __name__)
HEARTBEAT = 15.0
RETRY_AFTER = "5"
SLOTS = "cnilab.streams"


def stream(lab: LabHandle, deltas: bool) -> Iterator[str]:
    """`deltas`: the page applies topology deltas (it asked with ?deltas=1)."""
    yield "retry: 1000\n\n"
    version, seen = 0, 0
    while not lab.hub.stopped:
        version, changed = lab.hub.wait(version, timeout=HEARTBEAT)
        if not changed:
            yield ": keep-alive\n\n"
        for topic, value in changed.items():
            if isinstance(value, TopologyItem):
                yield value.event_for(seen, deltas)
                seen = value.version
            else:
                yield sse(topic, value)


@bp.get("/api/events")
def events() -> Response:
    lab = get_lab()
    lab.ensure_live()
    slot: threading.BoundedSemaphore = current_app.extensions[SLOTS]
    if not slot.acquire(blocking=False):
        response = jsonify(error="too many open event streams: try again in a few seconds")
        response.status_code = 503
        response.headers["Retry-After"] = RETRY_AFTER
        return response
    response = Response(
        stream(lab, request.args.get("deltas") == "1"),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    # the server closes every response, read or not: the slot comes back either way
    response.call_on_close(slot.release)
    return response


def init_app(app: Flask) -> None:
    app.extensions[SLOTS] = threading.BoundedSemaphore(int(app.config["MAX_STREAMS"]))
    app.register_blueprint(bp)

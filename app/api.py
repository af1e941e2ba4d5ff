"""The JSON API: status, topology, pods, calls. Views validate, call lab/, return JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from app.body import json_body, text
from app.errors import APIError
from app.labstate import get_lab
from lab.cluster.plan import PlanError
from lab.live.call_changes import call_key, read_changes
from lab.live.demo import DemoBoard, DemoSession
from lab.live.status import status_of
from lab.runtime.batch import MAX_COUNT, add_batch, batch_names, check_free
from lab.runtime.pods import PodError, PortMapping

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_CALLS = 500
DEMO_BOARD = "cnilab.demo"


@bp.get("/status")
def status() -> Any:
    plan = get_lab().plan()
    return jsonify(status_of(plan) if plan else {"up": False})


@bp.get("/topology")
def topology() -> Any:
    lab = get_lab()
    lab.ensure_live()
    item = lab.hub.get("topology", timeout=5)
    if item is None:
        raise APIError("the topology is not available yet", 503)
    return jsonify({**item.snapshot, "version": item.version})


@bp.get("/pods")
def pods() -> Any:
    return jsonify([p.to_dict() for p in get_lab().runtime().list()])


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float:
    value = body.get(key, 0)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise APIError(f"{key!r} must be a number of seconds from {low:g} to {high:g}")
    return float(value)


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise APIError(f"{key!r} must be true or false")
    return value


def _count(body: dict[str, Any]) -> int | None:
    count = body.get("count")
    if count is None:
        return None
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise APIError(f"'count' must be a whole number from 1 to {MAX_COUNT}")
    return count


def _board() -> DemoBoard:
    return current_app.extensions.setdefault(DEMO_BOARD, DemoBoard())


@contextmanager
def _slow_motion(
    publish: Callable[[str, Any], None], delay: float, manual: bool, count: int
) -> Iterator[DemoSession | None]:
    """A demo session while the pods are made (None when not in slow motion), reachable
    by Next and told how it ended."""
    if not delay and not manual:
        yield None
        return
    session = DemoSession(publish, delay, manual, count)
    _board().add(session)
    error = ""
    try:
        yield session
    except Exception as e:
        error = str(e)
        raise
    finally:
        session.finish(error)
        _board().remove(session)
        session.close()


@bp.post("/pods")
def add_pod() -> Any:
    """One pod, or with "count" the batch NAME-1 ... NAME-N (all or none). With "demo"
    (seconds per step) or "manual" (Next after each step), pycni's steps are published
    on the event stream's "demo" topic while the pods are made."""
    body = json_body()
    demo, manual, count = _number(body, "demo", 0, 10), _flag(body, "manual"), _count(body)
    ports = body.get("ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, str) for p in ports):
        raise APIError("'ports' must be a list of \"HOST:CONTAINER[/udp]\" strings")
    name = text(body, "name")
    lab = get_lab()
    runtime = lab.runtime()
    try:
        options = {
            "node": text(body, "node") or None,
            "ifname": text(body, "ifname", "eth0"),
            "network": text(body, "network"),
            "ports": [PortMapping.parse(p) for p in ports],
        }
        if count is not None:
            check_free(runtime, batch_names(name, count))
        with _slow_motion(lab.hub.publish, demo, manual, count or 1) as session:
            if count is None:
                made = [runtime.add(name, demo=session, **options)]
            else:
                made = add_batch(runtime, name, count, demo=session, **options)
    except (PodError, PlanError) as e:
        raise APIError(str(e)) from e
    if count is None:
        return jsonify(made[0].to_dict()), 201
    return jsonify({"pods": [p.to_dict() for p in made]}), 201


@bp.post("/demo/next")
def demo_next() -> Any:
    """Let the paused step of slow motion go on (the page's Next)."""
    body = json_body(optional=True)
    if not _board().next(text(body, "session")):
        raise APIError("no step is waiting", 409)
    return jsonify({"ok": True})


@bp.delete("/pods/<name>")
def delete_pod(name: str) -> Any:
    try:
        pod = get_lab().runtime().delete(name)
    except PodError as e:
        raise APIError(str(e), 404 if "no pod named" in str(e) else 400) from e
    return jsonify(pod.to_dict())


@bp.post("/trace")
def trace() -> Any:
    from lab.trace.tracer import TraceError
    from lab.trace.tracer import trace as run_trace

    body = json_body()
    port = body.get("port", 0)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise APIError("'port' must be a number from 0 to 65535")
    lab = get_lab()
    plan = None if lab.agents else lab.require_plan()
    args = (text(body, "src"), text(body, "dst"), text(body, "proto", "icmp"), port)
    try:
        if plan is None:  # node agents: one probe, coordinated across them
            from lab.agent.coordinator import trace_across

            result = trace_across(lab.agents, *args)
        else:
            result = run_trace(plan, *args)
    except TraceError as e:
        raise APIError(str(e)) from e
    return jsonify(result.to_dict())


@bp.get("/calls")
def calls() -> Any:
    limit = request.args.get("limit", "50")
    if not (limit.isascii() and limit.isdigit()) or not 0 < int(limit) <= MAX_CALLS:
        raise APIError(f"'limit' must be a number from 1 to {MAX_CALLS}")
    journal = get_lab().journal()
    if journal is None:
        return jsonify([])
    records, diffs = journal.tail(int(limit)), read_changes(journal)
    return jsonify([{**r, "kernel": diffs.get(call_key(r))} for r in records])

"""The JSON API: status, topology, pods, calls. Views validate, call lab/, return JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from app.body import json_body, text
from app.errors import APIError
from app.labstate import get_lab
from lab.cluster.plan import PlanError
from lab.live.status import status_of
from lab.runtime.pods import PodError, PortMapping

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_CALLS = 500


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


@bp.post("/pods")
def add_pod() -> Any:
    body = json_body()
    demo = body.get("demo", 0)
    if not isinstance(demo, int | float) or isinstance(demo, bool) or not 0 <= demo <= 10:
        raise APIError("'demo' must be a number of seconds from 0 to 10")
    ports = body.get("ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, str) for p in ports):
        raise APIError("'ports' must be a list of \"HOST:CONTAINER[/udp]\" strings")
    try:
        pod = (
            get_lab()
            .runtime()
            .add(
                text(body, "name"),
                text(body, "node") or None,
                text(body, "ifname", "eth0"),
                demo_delay=float(demo),
                network=text(body, "network"),
                ports=[PortMapping.parse(p) for p in ports],
            )
        )
    except (PodError, PlanError) as e:
        raise APIError(str(e)) from e
    return jsonify(pod.to_dict()), 201


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
    return jsonify(journal.tail(int(limit)) if journal else [])

"""Reading a request's JSON body: an object or a clear 400, never a 500 (nested too
deep, not JSON, not an object, a field of the wrong type)."""

from __future__ import annotations

from typing import Any

from flask import request

from app.errors import APIError


def json_body(optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; with `optional`, an empty body is {}."""
    if optional and not request.get_data(cache=True):
        return {}
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the JSON decoder goes
        body = None
    if not isinstance(body, dict):
        raise APIError("the request body must be a JSON object")
    return body


def text(body: dict[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise APIError(f"{key!r} must be a string")
    return value

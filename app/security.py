"""Safe by default: read-only mode, a token for actions, and same-origin JSON only.

- `READ_ONLY`: every request that changes state is refused (a classroom projector).
- `TOKEN`: when set (always, for a non-loopback --host), actions need it in the
  `X-Cnilab-Token` header; the page gets it from `?token=` once and keeps it.
- Actions must be JSON (a cross-site form cannot send that without a preflight)
  and, when the browser says where it comes from, come from this very origin.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Flask, current_app, request

from app.errors import APIError

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_HEADER = "X-Cnilab-Token"


def check_action() -> None:
    if request.method in SAFE_METHODS:
        return
    if current_app.config["READ_ONLY"]:
        raise APIError("this cnilab is read-only: actions are turned off", 403)
    token = current_app.config["TOKEN"]
    if token and not hmac.compare_digest(request.headers.get(TOKEN_HEADER, ""), token):
        raise APIError(f"missing or wrong {TOKEN_HEADER} header", 403)
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if origin and urlsplit(origin).netloc != request.host:
        raise APIError("cross-origin request refused", 403)
    if request.method == "POST" and not request.is_json:
        raise APIError("send JSON (Content-Type: application/json)", 415)


def init_app(app: Flask) -> None:
    app.before_request(check_action)

    @app.after_request
    def headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

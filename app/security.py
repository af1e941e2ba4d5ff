"""Safe by default: who may reach the app, with what, and what read-only leaves.

The app runs as root and runs code, so every request passes three gates, in order:

1. **Host** (lab.hostguard, before any routing, static files included): a loopback
   name or address on the serving port, or a name given with `--allow-host`; an
   `Origin`, when the browser sends one, must be this very origin (DNS rebinding).
2. **Token** (every `/api/` route, reads included, as Jupyter does): `?token=` or the
   `X-Cnilab-Token` header, compared in constant time as bytes. Pages and static files
   are served without it: they carry no lab data; the page takes the token from the
   address bar once and sends it with every API call (and the event stream's `?token=`).
   `NO_TOKEN` (loopback only, `cnilab serve --no-token`) turns this gate off.
3. **Read-only** (a classroom screen): only the graph, its events and the call journal
   are served; no action, no solution, no workspace file.

Actions must also be JSON (a cross-site form cannot send that without a preflight).
"""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from app.errors import APIError
from lab.hostguard import HostGuard

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_HEADER = "X-Cnilab-Token"
TOKEN_PARAM = "token"
READ_ONLY_ENDPOINTS = frozenset(
    {"api.status", "api.topology", "api.pods", "api.calls", "events.events"}
)


def token_matches(given: str, token: str) -> bool:
    """Constant-time, as bytes: a header with non-ASCII characters is just wrong."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), token.encode("utf-8", "surrogateescape")
    )


def given_token() -> str:
    return request.headers.get(TOKEN_HEADER) or request.args.get(TOKEN_PARAM) or ""


def check_request() -> None:
    if not request.path.startswith("/api/"):
        return
    config = current_app.config
    if not config["NO_TOKEN"]:
        token = config["TOKEN"]
        if not token:
            raise APIError("this server has no token set: restart `cnilab serve`", 403)
        if not token_matches(given_token(), token):
            raise APIError(
                f"missing or wrong token: open the address `cnilab serve` printed "
                f"(?{TOKEN_PARAM}=...), or send the {TOKEN_HEADER} header",
                403,
            )
    if config["READ_ONLY"] and request.endpoint not in READ_ONLY_ENDPOINTS:
        raise APIError("this cnilab is read-only: it shows the lab and nothing else", 403)
    if request.method in SAFE_METHODS:
        return
    if request.method == "POST" and not request.is_json:
        raise APIError("send JSON (Content-Type: application/json)", 415)


def init_app(app: Flask) -> None:
    app.wsgi_app = HostGuard(  # type: ignore[method-assign]
        app.wsgi_app, app.config["PORT"], app.config["ALLOWED_HOSTS"]
    )
    app.before_request(check_request)

    @app.context_processor
    def page_flags() -> dict[str, bool]:
        return {"token_required": not app.config["NO_TOKEN"]}

    @app.after_request
    def headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

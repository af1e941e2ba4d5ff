"""Which Host a lab server answers: the DNS-rebinding gate of the web app and the agents.

A page on attacker.example whose name resolves to 127.0.0.1 makes the browser send
`Host: attacker.example:8080` (and a matching Origin) to our port. So a server that
runs as root answers only a Host that is a loopback name or address on its own port,
or a name it was told with `--allow-host` (Jupyter's `allow_remote_access` model), and
an Origin, when one is sent, must be that very origin. Both are checked by a WSGI
middleware before any routing, static files included.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "localhost.")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def is_loopback(host: str) -> bool:
    """A loopback name or address (brackets around IPv6 allowed)."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None] | None:
    """`name[:port]` or `[v6][:port]` from a Host header; None if it is not one."""
    if not value or len(value) > 255 or any(c.isspace() or ord(c) > 126 for c in value):
        return None
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None or parts.path or parts.query or parts.username is not None:
        return None
    return parts.hostname.lower(), port


def host_allowed(value: str, port: int | None, allowed: Iterable[str], default_port: int) -> bool:
    """Whether a Host header names this server: `port` None accepts any port (tests)."""
    split = split_host(value)
    if split is None:
        return False
    name, given = split
    if port is not None and (given or default_port) != port:
        return False
    return is_loopback(name) or name.rstrip(".") in {a.lower().rstrip(".") for a in allowed}


class HostGuard:
    """WSGI middleware: 403 for a Host or an Origin that is not this server's."""

    def __init__(self, app: WSGIApp, port: int | None, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.port = port
        self.allowed = tuple(allowed)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST", "")
        origin = environ.get("HTTP_ORIGIN")
        if not host_allowed(host, self.port, self.allowed, 443 if scheme == "https" else 80):
            return refuse(start_response, "this server answers only its own host names")
        if origin is not None and origin != f"{scheme}://{host}":
            return refuse(start_response, "cross-origin request refused")
        return self.app(environ, start_response)


def refuse(start_response: Callable[..., Any], message: str) -> list[bytes]:
    body = json.dumps({"error": message}).encode()
    start_response(
        "403 Forbidden",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]

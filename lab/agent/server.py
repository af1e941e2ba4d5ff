"""The agent's HTTP face: JSON over werkzeug's threaded server, a token on every request.

    GET    /v1/info                       node, namespaces served, open captures
    GET    /v1/snapshot[?after=N&wait=S]  tagged node-link JSON; with `after`, waits up to
                                          S seconds for a newer one (204 if none came)
    GET    /v1/events                     SSE: "event: snapshot" on every change
    POST   /v1/captures                   {"probe": marker, "ttl": s} -> 201 {"id", ...}
    POST   /v1/captures/ID/send           {"from": netns} -> {"sent_at"}
    POST   /v1/captures/ID/collect        {"until_reply": bool, "timeout": s} -> frames
    DELETE /v1/captures/ID                close it without collecting
    POST   /v1/ask                        {"netns", "dst", "question": route|default-gateway}

The token comes as `Authorization: Bearer T` or `X-Cnilab-Token: T`, compared in
constant time; without it, 401. An agent runs without a token only when told so and
bound to loopback (make_agent_server refuses anything else). Every JSON answer but
the snapshot carries "received" and "now": the agent's clock when the request came
in and when the answer left, for the coordinator's offset estimate (NTP's formula).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from lab.agent.captures import CaptureError
from lab.agent.service import MAX_WAIT, Agent, AgentInputError

log = logging.getLogger(__name__)
TOKEN_HEADER = "X-Cnilab-Token"
MAX_BODY = 64 * 1024
HEARTBEAT = 15.0

ROUTES = Map(
    [
        Rule("/v1/info", endpoint="info", methods=["GET"]),
        Rule("/v1/snapshot", endpoint="snapshot", methods=["GET"]),
        Rule("/v1/events", endpoint="events", methods=["GET"]),
        Rule("/v1/captures", endpoint="arm", methods=["POST"]),
        Rule("/v1/captures/<cid>/send", endpoint="send", methods=["POST"]),
        Rule("/v1/captures/<cid>/collect", endpoint="collect", methods=["POST"]),
        Rule("/v1/captures/<cid>", endpoint="cancel", methods=["DELETE"]),
        Rule("/v1/ask", endpoint="ask", methods=["POST"]),
    ]
)


Answer = tuple[int, dict[str, Any]]  # status and JSON body; dispatch adds the clock readings


class Unauthorized(Exception):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=False) or b"{}")
    except ValueError:
        raise AgentInputError("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise AgentInputError("the request body must be a JSON object")
    return body


def _query_number(request: Request, key: str, high: float) -> float | None:
    raw = request.args.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= high:
        raise AgentInputError(f"{key!r} must be a number from 0 to {high:g}")
    return value


class AgentApp:
    """The WSGI application; `agent` does the work, this only speaks HTTP."""

    def __init__(self, agent: Agent, token: str) -> None:
        self.agent = agent
        self.token = token.encode()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        received = time.time()
        try:
            self._authorize(request)
            endpoint, args = ROUTES.bind_to_environ(request.environ).match()
            answer = getattr(self, f"on_{endpoint}")(request, **args)
            if isinstance(answer, Response):
                return answer
            status, body = answer
            return _json({**body, "received": received, "now": time.time()}, status)
        except Unauthorized as e:
            response = _json({"error": str(e)}, 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="cnilab-agent"'
            return response
        except AgentInputError as e:
            return _json({"error": str(e)}, 400)
        except CaptureError as e:
            return _json({"error": str(e)}, e.status)
        except HTTPException as e:
            return _json({"error": e.description or e.name}, e.code or 500)
        except Exception as e:
            log.exception("agent: %s %s failed", request.method, request.path)
            return _json({"error": f"internal error: {type(e).__name__}: {e}"}, 500)

    def _authorize(self, request: Request) -> None:
        if not self.token:
            return
        given = request.headers.get(TOKEN_HEADER, "")
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = credentials.strip()
        if not given:
            raise Unauthorized(f"send the agent's token (Authorization: Bearer, or {TOKEN_HEADER})")
        if not hmac.compare_digest(given.encode(), self.token):
            raise Unauthorized("wrong token")

    # Endpoints

    def on_info(self, request: Request) -> Answer:
        return 200, self.agent.info()

    def on_snapshot(self, request: Request) -> Response:
        after = _query_number(request, "after", 2**62)
        wait = _query_number(request, "wait", MAX_WAIT)
        found = self.agent.snapshot(int(after or 0), wait)
        if found is None:
            if after is not None:
                return Response(status=204)
            return _json({"error": "no snapshot yet: the inspector is starting"}, 503)
        return Response(found[1], mimetype="application/json")

    def on_events(self, request: Request) -> Response:
        return Response(
            self._stream(),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            direct_passthrough=True,
        )

    def _stream(self) -> Iterator[bytes]:
        yield b"retry: 1000\n\n"
        after = 0
        while self.agent.watcher.running:
            found = self.agent.snapshot(after, HEARTBEAT)
            if found is None:
                yield b": keep-alive\n\n"
                continue
            after = found[0]
            yield b"event: snapshot\ndata: " + found[1] + b"\n\n"

    def on_arm(self, request: Request) -> Answer:
        return 201, self.agent.arm(_body(request))

    def on_send(self, request: Request, cid: str) -> Answer:
        return 200, self.agent.send(cid, _body(request))

    def on_collect(self, request: Request, cid: str) -> Answer:
        return 200, self.agent.collect(cid, _body(request))

    def on_cancel(self, request: Request, cid: str) -> Answer:
        return 200, self.agent.cancel(cid)

    def on_ask(self, request: Request) -> Answer:
        return 200, self.agent.ask(_body(request))


def make_agent_server(
    agent: Agent, host: str, port: int, token: str, allow_no_token: bool = False
) -> BaseWSGIServer:
    """A threaded server for `agent` (not started: call serve_forever, and shutdown)."""
    if not token and not (allow_no_token and is_loopback(host)):
        raise ValueError(
            "an agent needs a token (--token or --token-file); "
            "only on loopback may --no-token run it without one"
        )
    return make_server(host, port, AgentApp(agent, token), threaded=True)

"""The agent's HTTP face: a WSGI app of JSON answers, every request signed with the token.

    GET    /v1/info                       node, namespaces served, open captures
    GET    /v1/snapshot[?after=N&wait=S]  tagged node-link JSON; with `after`, waits up to
                                          S seconds for a newer one (204 if none came)
    POST   /v1/captures                   {"probe": marker, "ttl": s} -> 201 {"id", ...}
    POST   /v1/captures/ID/send           {"from": netns} -> {"sent_at"}
    POST   /v1/captures/ID/collect        {"until_reply": bool, "timeout": s} -> frames
    DELETE /v1/captures/ID                close it without collecting
    POST   /v1/ask                        {"netns", "dst", "question": route|default-gateway}

Every request ends within a bounded time (the longest is a 30 s long poll): there is no
endpoint that streams, so no client can hold a pool thread for ever (httpd.py). Each
request is signed (signing.py); without a valid signature, 401 before routing. An
agent runs without a token only when told so and bound to loopback (httpd.py). A 500
answers only an error id; the traceback goes to the log. Every JSON answer but the
snapshot carries "received" and "now": the agent's clock when the request came in and
when the answer left, for the coordinator's offset estimate (NTP's formula).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from lab.agent.captures import CaptureError
from lab.agent.service import MAX_WAIT, Agent, AgentInputError
from lab.agent.signing import NoncesFull, SignatureError, Verifier

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024

ROUTES = Map(
    [
        Rule("/v1/info", endpoint="info", methods=["GET"]),
        Rule("/v1/snapshot", endpoint="snapshot", methods=["GET"]),
        Rule("/v1/captures", endpoint="arm", methods=["POST"]),
        Rule("/v1/captures/<cid>/send", endpoint="send", methods=["POST"]),
        Rule("/v1/captures/<cid>/collect", endpoint="collect", methods=["POST"]),
        Rule("/v1/captures/<cid>", endpoint="cancel", methods=["DELETE"]),
        Rule("/v1/ask", endpoint="ask", methods=["POST"]),
    ]
)


Answer = tuple[int, dict[str, Any]]  # status and JSON body; dispatch adds the clock readings


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, headers=headers, mimetype="application/json")


def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise AgentInputError("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise AgentInputError("the request body must be a JSON object")
    return body


def _query_number(request: Request, key: str, high: float) -> float | None:
    raw = request.args.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)  # nan and inf fail the range below
    except ValueError:
        value = -1.0
    if not 0 <= value <= high:
        raise AgentInputError(f"{key!r} must be a number from 0 to {high:g}")
    return value


class AgentApp:
    """The WSGI application; `agent` does the work, this only speaks HTTP."""

    def __init__(self, agent: Agent, token: str) -> None:
        self.agent = agent
        self.verifier = Verifier(token, agent.scope.node) if token else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        received = time.time()
        try:
            self._authorize(request, received)
            endpoint, args = ROUTES.bind_to_environ(request.environ).match()
            answer = getattr(self, f"on_{endpoint}")(request, **args)
            if isinstance(answer, Response):
                return answer
            status, body = answer
            return _json({**body, "received": received, "now": time.time()}, status)
        except SignatureError as e:
            response = _json({"error": str(e)}, 401)
            response.headers["WWW-Authenticate"] = 'Cnilab-Signature realm="cnilab-agent"'
            return response
        except NoncesFull as e:
            return _json({"error": str(e)}, 503, {"Retry-After": "5"})
        except AgentInputError as e:
            return _json({"error": str(e)}, 400)
        except CaptureError as e:
            return _json({"error": str(e)}, e.status)
        except HTTPException as e:
            return _json({"error": e.description or e.name}, e.code or 500)
        except Exception:
            error_id = secrets.token_hex(6)
            log.exception("agent: %s %s failed (error %s)", request.method, request.path, error_id)
            body = {"error": "internal error: see the agent's log", "error_id": error_id}
            return _json(body, 500)

    def _authorize(self, request: Request, received: float) -> None:
        if self.verifier is None:
            return
        environ = request.environ
        query = environ.get("QUERY_STRING", "")
        target = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        body = request.get_data()  # the signature covers it; at most MAX_BODY (else 413)
        self.verifier.verify(request.method, target, request.headers, body, received)

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

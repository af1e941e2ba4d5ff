"""The agent's production server: gunicorn's asyncio worker, the WSGI app in a bounded pool.

One master and one worker process. The worker (gunicorn's "asgi" class) holds every
connection in its event loop, so slow or half-sent clients hold no thread; a2wsgi runs
AgentApp in a pool of POOL threads, and every request ends in bounded time (the agent
has no stream: a2wsgi would keep a thread for ever on a client gone from one). TLS with
the agent's own certificate (cert.py); limits on request lines and headers; no access
log (a request line is enough to follow a trace, and nothing secret is in one anyway).

The Agent (its watcher thread and netlink sockets) is made in the worker, after the
fork, since threads do not survive one; it is closed when the worker exits. gunicorn's
control socket (~/.gunicorn, as root) is off. SIGTERM to the master stops both: the
worker gets graceful_timeout seconds for its requests, then SIGKILL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from a2wsgi import WSGIMiddleware
from gunicorn.app.base import BaseApplication

from lab.agent.cert import AgentCert
from lab.agent.server import AgentApp
from lab.agent.service import Agent
from lab.agent.terminal import TerminalEndpoint
from lab.hostguard import HostGuard, is_loopback

POOL = 16  # request threads: long polls (one per follower), trace phases, info
SETTINGS: dict[str, Any] = {
    "workers": 1,
    "worker_class": "asgi",
    "asgi_lifespan": "off",
    "worker_connections": 500,
    "timeout": 30,  # also the longest wait for a request body's next bytes
    "graceful_timeout": 5,
    "keepalive": 5,
    "limit_request_line": 4096,
    "limit_request_fields": 40,
    "limit_request_field_size": 4096,
    "control_socket_disable": True,
    "accesslog": None,
    "errorlog": "-",
    "proc_name": "cnilab-agent",
}


def check_token(host: str, token: str, no_token: bool) -> None:
    """An agent without a token is one any local user can drive: loopback and --no-token only."""
    if not token and not (no_token and is_loopback(host)):
        raise ValueError(
            "an agent needs a token (--token or --token-file); "
            "only on loopback may --no-token run it without one"
        )


def agent_wsgi(agent: Agent, token: str, port: int | None, allow_hosts: Iterable[str]) -> HostGuard:
    """What the worker serves: the Host check (DNS rebinding), then the signed API."""
    return HostGuard(AgentApp(agent, token), port, allow_hosts)


class AgentServer(BaseApplication):  # type: ignore[misc]
    """`cnilab agent`'s server; run() blocks until SIGTERM or SIGINT."""

    def __init__(
        self,
        make_agent: Callable[[], Agent],
        host: str,
        port: int,
        token: str,
        cert: AgentCert,
        allow_hosts: Iterable[str] = (),
        on_ready: Callable[[int], None] = lambda port: None,  # once the worker serves
        loglevel: str = "info",
        allow_terminal: bool = False,  # lab.agent.terminal: off unless asked for
    ) -> None:
        self.make_agent, self.token, self.cert = make_agent, token, cert
        self.host, self.port = host, port
        self.allow_hosts = (*allow_hosts, *(() if host in ("0.0.0.0", "::") else (host,)))
        self.on_ready, self.loglevel = on_ready, loglevel
        self.allow_terminal = allow_terminal
        self.agent: Agent | None = None
        self.terminals: TerminalEndpoint | None = None
        self.worker: Any = None
        super().__init__()

    def load_config(self) -> None:
        bind = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        settings = {
            **SETTINGS,
            "bind": [bind],
            "certfile": str(self.cert.cert),
            "keyfile": str(self.cert.key),
            "loglevel": self.loglevel,
            "when_ready": self._when_ready,
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def _when_ready(self, arbiter: Any) -> None:
        """In the master, bound and before the fork: the worker inherits the real port."""
        self.port = arbiter.LISTENERS[0].sock.getsockname()[1]

    def _post_worker_init(self, worker: Any) -> None:
        """In the worker, its app loaded: now it serves."""
        self.worker = worker
        self.on_ready(self.port)

    def load(self) -> Any:
        """In the worker: the Agent, its app behind the Host check, in the thread pool;
        the terminal endpoint (ASGI, WebSockets) in front of it."""
        self.agent = self.make_agent().start()
        api = AgentApp(self.agent, self.token)
        wsgi = WSGIMiddleware(HostGuard(api, self.port, self.allow_hosts), workers=POOL)
        self.terminals = TerminalEndpoint(
            wsgi,
            self.agent.scope,
            api.verifier,
            self.port,
            self.allow_hosts,
            self.allow_terminal,
            alive=lambda: self.worker is None or bool(self.worker.alive),
        )
        return self.terminals

    def _worker_exit(self, arbiter: Any, worker: Any) -> None:
        if self.terminals is not None:
            self.terminals.close_all()
        if self.agent is not None:
            self.agent.close()
            self.agent = None

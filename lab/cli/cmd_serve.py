"""`cnilab serve`: the web app, on waitress, with a token always (as Jupyter does).

Why waitress: its asyncio-style front reads each request whole before a worker thread
gets it, so slow or half-sent requests hold no thread (werkzeug's development server
gave each connection a thread; gunicorn's threaded worker blocks a thread on a client
that stops mid-header), it polls with poll() rather than select() (no 1024-fd wall),
and when a browser leaves an event stream the stream's thread is freed at its next
write (gunicorn's asyncio worker with a2wsgi leaves that thread hanging). The pool is
bounded: MAX_STREAMS threads for event streams, REQUEST_THREADS more for the rest.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

import click

from lab.cli.main import Exit, Lab, fail, pass_lab, read_token_file
from lab.exercises.workspace import workspace_dir
from lab.hostguard import is_loopback
from lab.terminal.server import MAX_TERMINALS, TerminalConfig, TerminalServer

REQUEST_THREADS = 16  # threads for everything but event streams
MAX_STREAMS = 32
CHANNEL_TIMEOUT = 30  # seconds a connection may sit without sending or reading
MAX_HEADER = 16 * 1024
MAX_BODY = 64 * 1024
CONNECTION_LIMIT = 2000


def page_address(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") or is_loopback(host) else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"


def terminal_off(host: str, read_only: bool, no_terminal: bool, allow: bool) -> str | None:
    """Why the course page gets no terminal, or None when it does."""
    if read_only:
        return "terminals are off: this cnilab is read-only"
    if no_terminal:
        return "terminals are off (cnilab serve --no-terminal)"
    if not is_loopback(host) and not allow:
        return "terminals are off on a non-loopback address (cnilab serve --allow-terminal)"
    return None


def start_terminals(config: TerminalConfig) -> TerminalServer:
    server = TerminalServer(config)
    try:
        server.start()
    except OSError as e:
        fail(
            f"cannot listen for terminals on {config.host}:{config.port}: {e.strerror}", Exit.USAGE
        )
    return server


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--read-only", is_flag=True, help="Serve the graph, its events and the calls only.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file whose first line is the token [default: $CNILAB_TOKEN, or a new one].",
)
@click.option("--no-token", is_flag=True, help="Ask no token (loopback only; not advised).")
@click.option(
    "--allow-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A Host name besides loopback the page may be opened as (repeat for each).",
)
@click.option(
    "--max-streams",
    default=MAX_STREAMS,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Event streams open at once; more are asked to retry.",
)
@click.option(
    "--agents",
    "agents_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help='Merge these node agents: a JSON list of {"name", "url", "token_file", '
    '"fingerprint_file"} (see docs/real-nodes.md).',
)
@click.option(
    "--allow-terminal",
    is_flag=True,
    help="Serve terminals (root shells) on a non-loopback --host too.",
)
@click.option("--no-terminal", is_flag=True, help="Serve no terminal in the course page.")
@click.option(
    "--node",
    "local_node",
    default=lambda: os.environ.get("CNILAB_NODE_NAME") or socket.gethostname().split(".")[0],
    show_default="$CNILAB_NODE_NAME or the host name",
    help="With --agents: the one that is this host (its shells open here, others' through "
    "their agents; checks run in an embedded lab inside it).",
)
@click.option(
    "--max-terminals",
    default=MAX_TERMINALS,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Terminals open at once; more are asked to retry.",
)
@click.option(
    "--terminal-port",
    default=0,
    type=click.IntRange(0, 65535),
    help="The terminals' WebSocket port [default: any free one].",
)
@pass_lab
def serve(
    lab: Lab,
    host: str,
    port: int,
    read_only: bool,
    token_file: Path | None,
    no_token: bool,
    allowed_hosts: tuple[str, ...],
    max_streams: int,
    agents_file: Path | None,
    allow_terminal: bool,
    no_terminal: bool,
    local_node: str,
    max_terminals: int,
    terminal_port: int,
) -> None:
    """Serve the live graph, the CNI call transcript, the course and the pod actions."""
    from waitress import create_server

    from app import create_app
    from lab.agent.client import AgentConfigError, load_agents_file

    if no_token and not is_loopback(host):
        fail("--no-token is for loopback only: anyone who reaches the port would be root")
    if no_token and token_file is not None:
        fail("--no-token with --token-file: which one?", Exit.USAGE)
    agents = []
    if agents_file is not None:
        try:
            agents = load_agents_file(agents_file)
        except AgentConfigError as e:
            fail(f"--agents: {e}", Exit.USAGE)
    token = ""
    if not no_token:
        token = read_token_file(token_file) if token_file else os.environ.get("CNILAB_TOKEN", "")
    generated = not token and not no_token
    token = token or ("" if no_token else secrets.token_urlsafe(24))
    config = {
        "STATE_DIR": str(lab.state_dir),
        "READ_ONLY": read_only,
        "TOKEN": token,
        "NO_TOKEN": no_token,
        "ALLOWED_HOSTS": list(allowed_hosts),
        "MAX_STREAMS": max_streams,
        "AGENTS": agents,
        "LOCAL_NODE": local_node if any(a.name == local_node for a in agents) else "",
    }
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=1024)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror}", Exit.USAGE)
    bound = listener.getsockname()[1]
    off = terminal_off(host, read_only, no_terminal, allow_terminal)
    terminals = None
    nodes = None
    if agents and off is None:
        from app.checkplace import CHECK_LAB_DIR, CHECK_LAB_PREFIX
        from lab.agent.terminal_client import real_nodes
        from lab.terminal.shell import lab_env

        check_env = lab_env(CHECK_LAB_DIR, workspace_dir(), CHECK_LAB_PREFIX)
        nodes = real_nodes(agents, local_node, check_env)
    if off is None:
        terminals = start_terminals(
            TerminalConfig(
                host=host,
                app_port=bound,
                state_dir=str(lab.state_dir),
                workspace=workspace_dir(),
                token=token,
                no_token=no_token,
                port=terminal_port,
                allowed_hosts=list(allowed_hosts),
                max_terminals=max_terminals,
                nodes=nodes,
            )
        )
        local = nodes.local if nodes else None
        config["TERMINAL"] = {"port": terminals.port, "max": max_terminals, "local": local}
    else:
        config["TERMINAL_OFF"] = off
    app = create_app({**config, "PORT": bound})
    server = create_server(
        app,
        sockets=[listener],
        threads=max_streams + REQUEST_THREADS,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT,
        max_request_header_size=MAX_HEADER,
        max_request_body_size=MAX_BODY,
        asyncore_use_poll=True,
        clear_untrusted_proxy_headers=True,
        ident="cnilab",
    )
    signal.signal(signal.SIGTERM, _stop)  # before the address: whoever reads it may stop us
    where = page_address(host, bound)
    if generated:  # nobody else knows it: show it, once, to whoever started us
        click.echo(f"{where}?token={token}")
    elif token:  # a file or the environment: never into a log (journald)
        kept = f"the first line of {token_file}" if token_file else "$CNILAB_TOKEN"
        click.echo(f"{where}?token=... (the token is {kept})")
    else:
        click.echo(where)
        click.echo("warning: --no-token: every local user can drive this lab as root", err=True)
    click.echo(f"cnilab web on {where}{' (read-only)' if read_only else ''}", err=True)
    for agent in agents:
        click.echo(f"node agent {agent.name}: {agent.url}", err=True)
    if terminals is not None:
        click.echo(f"terminals on port {terminals.port} (at most {max_terminals})", err=True)
    sys.stdout.flush()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if terminals is not None:
            terminals.stop()  # every shell, and all it started, ends with us
        server.close()
        app.extensions["cnilab"].hub.stop()

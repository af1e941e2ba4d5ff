"""`cnilab agent`: serve this node's snapshot, events and trace sniffers to the web app.

On a real node (a Vagrant VM) it serves the host's namespace and every pod namespace
under /run/netns; with `--netns` a namespace stands in for the host, and
`--pods-prefix`/`--pod` say which namespaces are its pods (several agents on one
machine, as the tests run them). It needs a token unless bound to loopback with
`--no-token`. See lab/agent/server.py for the HTTP API.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path
from types import FrameType

import click

from lab.cli.main import Exit, fail

NETNS_DIR = "/run/netns"


def default_node() -> str:
    return os.environ.get("CNILAB_NODE_NAME") or socket.gethostname().split(".")[0].lower()


def read_token(token: str | None, token_file: Path | None, no_token: bool) -> str:
    if token and token_file:
        fail("give --token or --token-file, not both", Exit.USAGE)
    if token_file is not None:
        try:
            lines = token_file.read_text().splitlines()
        except OSError as e:
            fail(f"--token-file: {e.strerror}: {token_file}", Exit.USAGE)
        token = lines[0].strip() if lines else ""
        if not token:
            fail(f"--token-file: {token_file} holds no token", Exit.USAGE)
    if token and no_token:
        fail("--no-token with a token: which one?", Exit.USAGE)
    return token or ""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="0: any free."
)
@click.option("--token", envvar="CNILAB_AGENT_TOKEN", help="Token the app must send.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file whose first line is the token.",
)
@click.option("--no-token", is_flag=True, help="Serve without a token (loopback only).")
@click.option(
    "--node",
    default=default_node,
    show_default="$CNILAB_NODE_NAME or the host name",
    help="This node's name in the merged graph.",
)
@click.option("--netns", help="A namespace standing in for this host [default: the host's own].")
@click.option(
    "--pods-prefix",
    default="",
    help="Pods: the namespaces whose names start so [default: every one].",
)
@click.option("--pod", "pods", multiple=True, help="A pod namespace (repeat for each).")
@click.option(
    "--node-ip", envvar="CNILAB_NODE_IP", default="", help="This node's address [default: guessed]."
)
@click.option("--verbose", is_flag=True, help="Log every request.")
def agent(
    host: str,
    port: int,
    token: str | None,
    token_file: Path | None,
    no_token: bool,
    node: str,
    netns: str | None,
    pods_prefix: str,
    pods: tuple[str, ...],
    node_ip: str,
    verbose: bool,
) -> None:
    """Serve this node's snapshot, events and trace sniffers over HTTP."""
    from lab.agent.scope import NodeScope, ScopeError
    from lab.agent.server import make_agent_server
    from lab.agent.service import Agent

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    secret = read_token(token, token_file, no_token)
    try:
        scope = NodeScope(node, netns, pods_prefix, tuple(pods), node_ip)
    except ScopeError as e:
        fail(str(e), Exit.USAGE)
    if netns is not None and not os.path.exists(os.path.join(NETNS_DIR, netns)):
        fail(f"--netns: no network namespace {netns!r} (`ip netns list` shows them)", Exit.USAGE)
    service = Agent(scope)
    try:
        server = make_agent_server(service, host, port, secret, allow_no_token=no_token)
    except (ValueError, OSError) as e:
        fail(str(e), Exit.USAGE)
    service.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, name="cnilab-agent-stop").start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    where = f"http://{host}:{server.server_port}/"
    served = f"{scope.qualify(scope.node_netns)} and its pods"
    click.echo(f"cnilab agent {node}: {served} on {where}{'' if secret else ' (no token)'}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        service.close()

"""`cnilab agent`: serve this node's snapshot and trace sniffers to the web app.

On a real node (a Vagrant VM) it serves the host's namespace and every pod namespace
under /run/netns; with `--netns` a namespace stands in for the host, and
`--pods-prefix`/`--pod` say which namespaces are its pods (several agents on one
machine, as the tests run them). It speaks HTTPS with its own certificate (made in
`--cert-dir` at first start; its SHA-256 fingerprint is printed, for the app to pin)
and needs signed requests unless bound to loopback with `--no-token`. Its probes go
only to `--lab-network` addresses. See lab/agent/server.py for the HTTP API.
`--make-cert` only makes the certificate (provisioning does) and prints its fingerprint.
`--allow-terminal` serves root shells on this node to the web app's relay
(lab/agent/terminal.py); never without a token.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import click

from lab.agent.cert import DEFAULT_CERT_DIR, AgentCert
from lab.cli.main import Exit, fail, read_token_file

NETNS_DIR = "/run/netns"


def default_node() -> str:
    return os.environ.get("CNILAB_NODE_NAME") or socket.gethostname().split(".")[0].lower()


def read_token(token: str | None, token_file: Path | None, no_token: bool) -> str:
    if token and token_file:
        fail("give --token or --token-file, not both", Exit.USAGE)
    if token_file is not None:
        token = read_token_file(token_file)
    if token and no_token:
        fail("--no-token with a token: which one?", Exit.USAGE)
    return token or ""


def agent_cert(cert_dir: Path, node: str) -> AgentCert:
    from lab.agent.cert import CertError, ensure_cert
    from lab.agent.scope import ScopeError, check_node_name

    try:
        return ensure_cert(cert_dir, check_node_name(node))
    except (CertError, ScopeError, OSError) as e:
        fail(f"--cert-dir: {e}", Exit.USAGE)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="0: any free."
)
@click.option("--token", envvar="CNILAB_AGENT_TOKEN", help="Token the app signs requests with.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file whose first line is the token.",
)
@click.option("--no-token", is_flag=True, help="Serve without a token (loopback only).")
@click.option(
    "--cert-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=str(DEFAULT_CERT_DIR),
    show_default=True,
    help="The TLS certificate and key (made at first start).",
)
@click.option("--make-cert", is_flag=True, help="Make the certificate, print its fingerprint.")
@click.option(
    "--lab-network",
    "lab_networks",
    multiple=True,
    metavar="CIDR",
    help="Where probes may go (repeat) [default: 10.244.0.0/16, 192.168.56.0/24, 203.0.113.1].",
)
@click.option("--allow-host", "allow_hosts", multiple=True, help="Another Host name to answer.")
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
@click.option(
    "--allow-terminal",
    is_flag=True,
    help="Serve terminals (root shells here) to the web app's relay; needs a token.",
)
@click.option("--verbose", is_flag=True, help="Log the server's workings.")
def agent(
    host: str,
    port: int,
    token: str | None,
    token_file: Path | None,
    no_token: bool,
    cert_dir: Path,
    make_cert: bool,
    lab_networks: tuple[str, ...],
    allow_hosts: tuple[str, ...],
    node: str,
    netns: str | None,
    pods_prefix: str,
    pods: tuple[str, ...],
    node_ip: str,
    allow_terminal: bool,
    verbose: bool,
) -> None:
    """Serve this node's snapshot and trace sniffers over HTTPS."""
    from lab.agent.httpd import AgentServer, check_token
    from lab.agent.reach import DEFAULT_LAB_NETWORKS, LabReach, parse_networks
    from lab.agent.scope import NodeScope, ScopeError
    from lab.agent.service import Agent

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if make_cert:
        click.echo(agent_cert(cert_dir, node).fingerprint)
        return
    secret = read_token(token, token_file, no_token)
    if allow_terminal and not secret:
        fail("--allow-terminal needs a token: a terminal is a root shell", Exit.USAGE)
    try:
        check_token(host, secret, no_token)
        reach = LabReach(parse_networks(lab_networks) or DEFAULT_LAB_NETWORKS)
        scope = NodeScope(node, netns, pods_prefix, tuple(pods), node_ip)
    except (ValueError, ScopeError) as e:
        fail(str(e), Exit.USAGE)
    if netns is not None and not os.path.exists(os.path.join(NETNS_DIR, netns)):
        fail(f"--netns: no network namespace {netns!r} (`ip netns list` shows them)", Exit.USAGE)
    cert = agent_cert(cert_dir, node)
    served = f"{scope.qualify(scope.node_netns)} and its pods"
    shown = f"[{host}]" if ":" in host else host

    def ready(bound: int) -> None:
        where = f"https://{shown}:{bound}/"
        click.echo(f"cnilab agent {node}: {served} on {where}{'' if secret else ' (no token)'}")
        if allow_terminal:
            click.echo(f"cnilab agent {node}: terminals on (for the web app's relay)")

    click.echo(f"cnilab agent {node}: certificate sha256 {cert.fingerprint}")
    server = AgentServer(
        lambda: Agent(scope, reach=reach),
        host,
        port,
        secret,
        cert,
        allow_hosts,
        on_ready=ready,
        loglevel="info" if verbose else "warning",
        allow_terminal=allow_terminal,
    )
    server.run()

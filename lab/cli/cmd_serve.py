"""`cnilab serve`: the web app. Loopback by default; anything else needs a token."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from lab.agent.server import is_loopback
from lab.cli.main import Exit, Lab, fail, pass_lab


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--read-only", is_flag=True, help="Serve the view without any action.")
@click.option(
    "--token", envvar="CNILAB_TOKEN", help="Token for actions (default: random off loopback)."
)
@click.option(
    "--agents",
    "agents_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help='Merge these node agents: a JSON list of {"name", "url", "token"}.',
)
@pass_lab
def serve(
    lab: Lab, host: str, port: int, read_only: bool, token: str | None, agents_file: Path | None
) -> None:
    """Serve the live graph, the CNI call transcript and the pod actions."""
    from app import create_app
    from lab.agent.client import AgentConfigError, load_agents_file

    agents = []
    if agents_file is not None:
        try:
            agents = load_agents_file(agents_file)
        except AgentConfigError as e:
            fail(f"--agents: {e}", Exit.USAGE)
    if not token and not is_loopback(host) and not read_only:
        token = secrets.token_urlsafe(16)
    app = create_app(
        {
            "STATE_DIR": str(lab.state_dir),
            "READ_ONLY": read_only,
            "TOKEN": token or "",
            "AGENTS": agents,
        }
    )
    where = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"
    click.echo(f"cnilab web: {where}{f'?token={token}' if token else ''}")
    if read_only:
        click.echo("read-only: the page shows the lab but offers no actions")
    for agent in agents:
        click.echo(f"node agent {agent.name}: {agent.url}")
    app.run(host=host, port=port, threaded=True, debug=False, use_reloader=False)

"""The cnilab web app: pages, a JSON API and live events. It holds no kernel code:
everything that touches namespaces is in `lab/`, reached through `labstate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_relative_config=True,
    )
    app.config.from_mapping(
        STATE_DIR="/run/cnilab",
        READ_ONLY=False,  # serve the graph, its events and the call journal, nothing else
        TOKEN="",  # every /api/ request needs it (app.security); empty: none is served
        NO_TOKEN=False,  # loopback only (`cnilab serve --no-token`): no token asked
        PORT=None,  # the serving port a Host header must name (None: any, for tests)
        ALLOWED_HOSTS=[],  # names besides loopback that may reach the app (--allow-host)
        MAX_STREAMS=32,  # open event streams at once; more answer 503 with Retry-After
        TOPOLOGY_SOURCE="inspector",  # "inspector" (live, netlink) or "none" (tests)
        AGENTS=[],  # [{"name", "url", "token"}]: merge these node agents instead (lab/agent)
        AGENT_POLL=10.0,  # seconds an agent may hold a snapshot request (a long poll)
        MAX_CONTENT_LENGTH=64 * 1024,
        TERMINAL=None,  # {"port", "max"}: the terminal server `cnilab serve` started
        TERMINAL_OFF="",  # why there is none, for the page
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)

    from app import (
        api,
        checkrun,
        editor,
        errors,
        events,
        exercises,
        importmap,
        labstate,
        pages,
        security,
        terminal,
    )

    errors.init_app(app)
    security.init_app(app)
    labstate.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    events.init_app(app)
    app.register_blueprint(exercises.bp)
    importmap.init_app(app)
    for blueprint in (editor.bp, checkrun.bp, terminal.bp):  # the course in the browser
        app.register_blueprint(blueprint)
    return app

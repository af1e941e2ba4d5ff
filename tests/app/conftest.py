"""flaskr-style fixtures: an app per test with its own state dir, and its test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from lab.cluster import build
from lab.runtime.pods import Runtime
from tests.conftest import RunningLab, new_plan

TOKEN = "test-token"


class TokenClient(FlaskClient):
    """A test client that sends the app's token, as the page does once it has it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        token = self.application.config["TOKEN"]
        if token:
            self.environ_base["HTTP_X_CNILAB_TOKEN"] = token


def bare_client(app: Flask) -> FlaskClient:
    """A client with no token: a stranger, or a page that has not been given it."""
    return FlaskClient(app)


def make_app(state_dir: Path, **over: Any) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "STATE_DIR": str(state_dir),
            "TOPOLOGY_SOURCE": "none",
            "TOKEN": TOKEN,
            **over,
        }
    )
    app.test_client_class = TokenClient
    return app


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path / "state")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def lab_app(tmp_path: Path) -> Iterator[tuple[Flask, RunningLab]]:
    plan = build.up(new_plan(tmp_path))
    try:
        yield make_app(Path(plan.state_dir)), RunningLab(plan, Runtime(plan))
    finally:
        build.down(plan)

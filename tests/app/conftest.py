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


def make_app(state_dir: Path, **over: Any) -> Flask:
    return create_app(
        {"TESTING": True, "STATE_DIR": str(state_dir), "TOPOLOGY_SOURCE": "none", **over}
    )


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

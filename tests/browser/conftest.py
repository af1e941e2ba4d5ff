"""A real lab, the real app (live topology from the inspector) on a loopback port, and
Debian's Chromium driven by Playwright.

One lab and one browser per module (the tests are fast that way); each test gets a
fresh page. Servers, the topology thread and the lab are stopped even when a test fails.
The exercises' workspace (CNILAB_WORKSPACE) is a temporary directory, never ~/cnilab-work.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from waitress.server import create_server

from app import create_app
from lab.cluster import build
from lab.runtime.pods import Runtime
from tests.conftest import RunningLab, new_plan

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
TOKEN = "browser-test-token"
# What a tab holds once the address `cnilab serve` printed was opened in it.
KEEP_TOKEN = f"sessionStorage.setItem('cnilab-token', {TOKEN!r});"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = ""
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    elif importlib.util.find_spec("playwright") is None:
        reason = "the playwright package is missing (pip install playwright)"
    if reason:
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    plan = build.up(new_plan(tmp_path_factory.mktemp("browser")))
    try:
        yield RunningLab(plan, Runtime(plan))
    finally:
        build.down(plan)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The student's workspace for the module's app, set before any app exists."""
    root = tmp_path_factory.mktemp("workspace")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNILAB_WORKSPACE", str(root))
        yield root


@pytest.fixture(scope="module")
def serve(lab: RunningLab, workspace: Path) -> Iterator[Callable[..., str]]:
    """serve(**config) -> base URL of the app on the lab, in a thread on a free port.

    One server per distinct config, shared by the module's tests.
    """
    started: list[tuple[Any, threading.Thread, Any]] = []
    urls: dict[str, str] = {}

    def start(**config: Any) -> str:
        key = repr(sorted(config.items()))
        if key not in urls:
            urls[key] = _start(**config)
        return urls[key]

    def _start(**config: Any) -> str:
        port = _free_port()
        app = create_app(
            {
                "STATE_DIR": lab.plan.state_dir,
                "TOPOLOGY_SOURCE": "inspector",
                "TOKEN": TOKEN,
                "PORT": port,
                **config,
            }
        )
        server = create_server(app, host="127.0.0.1", port=port, threads=24)
        thread = threading.Thread(target=server.run, name="browser-app", daemon=True)
        thread.start()
        started.append((server, thread, app))
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for server, thread, app in started:
            app.extensions["cnilab"].hub.stop()  # ends the event streams, closes sockets
            server.close()
            thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.add_init_script(KEEP_TOKEN)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def wait_for_graph(page: Any, timeout: float = 10_000) -> None:
    page.wait_for_function(
        "() => window.cnilab && window.cnilab.cy.nodes('[type = \"labnode\"]').length > 0",
        timeout=timeout,
    )


POD_WIRED = """([eth0Id, box, bridgeId]) => {
  const cy = window.cnilab.cy;
  const eth0 = cy.getElementById(eth0Id);
  if (eth0.empty() || eth0.parent().parent().id() !== box) return false;
  const hostEnd = eth0.connectedEdges('[kind = "veth"]').connectedNodes().not(eth0);
  return hostEnd.length === 1 &&
    hostEnd.connectedEdges('[kind = "bridge-port"]').targets().some(b => b.id() === bridgeId);
}"""


def wait_pod_wired(page: Any, lab: RunningLab, pod: str, node: str, timeout: float) -> None:
    """Until the pod's eth0 is drawn in the node's box, veth-paired to a port of its cni0."""
    args = [
        f"if:{lab.plan.pod_netns(pod)}:eth0",
        f"node:{node}",
        f"if:{lab.plan.node(node).netns}:cni0",
    ]
    page.wait_for_function(POD_WIRED, arg=args, timeout=timeout)

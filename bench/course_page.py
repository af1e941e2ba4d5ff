"""The course in the browser, timed: page to a usable terminal, keystroke echo, and
Check to verdict for every step.

Run as root: `.venv/bin/python bench/course_page.py [--rounds 5] [--keys 50]`. Brings
up its own lab, serves the app and its terminal server on free loopback ports (as
`cnilab serve` does), and drives Debian's Chromium:
- open: from `page.goto(/exercises/6)` to a shell that has answered (its prompt shown);
- echo: a key sent by xterm.js until its echo is drawn (in the page), and the same
  round trip from a bare WebSocket client (no browser);
- check: POST the streamed Check of each step's reference solution until its verdict.
Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from waitress.server import create_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app import create_app
from lab.cluster import build
from lab.cluster.plan import make_plan
from lab.exercises.catalog import all_exercises
from lab.terminal.server import TerminalConfig, TerminalServer

TOKEN = "bench-token"
CHROMIUM = "/usr/bin/chromium"
ECHO_JS = """async (n) => {
  const tab = window.cnilab.terminals.active;
  const enc = new TextEncoder();
  const times = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await new Promise((done) => {
      const sub = tab.term.onWriteParsed(() => { sub.dispose(); done(); });
      tab.send(enc.encode(String.fromCharCode(97 + (i % 26))));
    });
    times.push(performance.now() - start);
  }
  tab.send(enc.encode('\\x15'));
  return times;
}"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"{name:34} median {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms  (n={len(ms)})")


def bare_echo(port: int, app_port: int, keys: int) -> list[float]:
    from websockets.sync.client import connect

    uri = f"ws://127.0.0.1:{port}/terminal?token={TOKEN}&target=node:node1&step=add"
    times = []
    with connect(uri, origin=f"http://127.0.0.1:{app_port}") as ws:  # type: ignore[arg-type]
        ws.recv(timeout=10)
        ws.send(b"stty -echoctl\n")
        time.sleep(0.5)  # let the prompt settle before timing
        while True:
            try:
                ws.recv(timeout=0.2)
            except TimeoutError:
                break
        for i in range(keys):
            start = time.perf_counter()
            ws.send(bytes([97 + i % 26]))
            ws.recv(timeout=10)
            times.append((time.perf_counter() - start) * 1000)
    return times


def check_times(base: str) -> list[tuple[str, bool, float]]:
    from lab.exercises.start_hook import has_start

    rows = []
    for ex in all_exercises():
        headers = {"X-Cnilab-Token": TOKEN, "Content-Type": "application/json"}
        if has_start(ex):  # a trouble step breaks the lab first, as its Start button does
            start_url = f"{base}/api/exercises/{ex.slug}/start"
            prepare = urllib.request.Request(start_url, data=b"{}", headers=headers)
            urllib.request.urlopen(prepare, timeout=120).read()
        start = time.perf_counter()
        request = urllib.request.Request(
            f"{base}/api/editor/{ex.slug}/check",
            data=json.dumps({"which": "solution"}).encode(),
            headers=headers,
        )
        last: dict[str, object] = {}
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                for line in answer:
                    last = json.loads(line)
        except urllib.error.HTTPError as e:
            last = {"event": "error", "error": e.read().decode()}
        seconds = time.perf_counter() - start
        rows.append((f"{ex.number:2d} {ex.slug}", bool(last.get("passed")), seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--no-checks", action="store_true")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="cnilab-bench-course-"))
    plan = build.up(make_plan(2, prefix=f"bc{uuid.uuid4().hex[:6]}", state_dir=tmp / "state"))
    workspace = tmp / "work"
    import os

    os.environ["CNILAB_WORKSPACE"] = str(workspace)
    port = free_port()
    terminals = TerminalServer(TerminalConfig("127.0.0.1", port, plan.state_dir, workspace, TOKEN))
    terminals.start()
    app = create_app(
        {
            "STATE_DIR": plan.state_dir,
            "TOKEN": TOKEN,
            "PORT": port,
            "TERMINAL": {"port": terminals.port, "max": 8},
        }
    )
    server = create_server(app, host="127.0.0.1", port=port, threads=24)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
            )
            opened, echoes = [], []
            for _ in range(args.rounds):
                context = browser.new_context(viewport={"width": 1600, "height": 900})
                page = context.new_page()
                start = time.perf_counter()
                page.goto(f"{base}/exercises/6?token={TOKEN}")
                page.locator("[data-testid=terminal-new]:not([disabled])").click()
                page.wait_for_function(
                    "() => { const t = window.cnilab.terminals.active;"
                    " return t && t.ready && t.term.buffer.active.getLine(0)"
                    ".translateToString(true).includes('#'); }"
                )
                opened.append((time.perf_counter() - start) * 1000)
                echoes += page.evaluate(ECHO_JS, args.keys)
                context.close()
            browser.close()
        summary("page open -> usable terminal", opened)
        summary("keystroke echo (xterm.js, drawn)", echoes)
        summary("keystroke echo (bare WebSocket)", bare_echo(terminals.port, port, args.keys))
        if not args.no_checks:
            print("Check -> verdict, each step's reference solution:")
            for name, passed, seconds in check_times(base):
                print(f"  {name:22} {'pass' if passed else 'FAIL'}  {seconds:6.2f} s")
    finally:
        terminals.stop()
        app.extensions["cnilab"].hub.stop()
        server.close()
        build.down(plan)
        shutil.rmtree(tmp, ignore_errors=True)  # the workspace and state it made


if __name__ == "__main__":
    main()

"""From `cnilab pod add` to the browser's event: how long until the page can show a pod.

Run as root: `.venv/bin/python bench/web_events.py [--pods 10]`. Brings up its own lab,
serves the app on a free loopback port, listens to /api/events like the page does, and
times each `cnilab pod add` (a real CLI process) until a topology event shows the
pod's eth0 wired to its veth. Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app import create_app
from lab.cluster import build
from lab.cluster.plan import make_plan

CNILAB = str(Path(sys.executable).parent / "cnilab")


class Listener(threading.Thread):
    """Reads the SSE stream and notes when each pod's eth0 first has a veth peer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        with urllib.request.urlopen(self.url, timeout=60) as stream:
            event = ""
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "topology":
                    self._note(json.loads(line[6:]))
                    self.ready.set()

    def _note(self, topology: dict) -> None:
        now = time.monotonic()
        for node in topology["nodes"]:
            if node.get("type") == "interface" and node.get("name") == "eth0" and node.get("peer"):
                self.seen.setdefault(node["ns"], now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plan = build.up(make_plan(2, prefix=f"bw{uuid.uuid4().hex[:5]}", state_dir=tmp))
        server = make_server("127.0.0.1", 0, create_app({"STATE_DIR": tmp}), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            listener = Listener(f"http://127.0.0.1:{server.server_port}/api/events")
            listener.start()
            listener.ready.wait(30)
            env = {**os.environ, "CNILAB_STATE_DIR": tmp}
            total, after_cli = [], []
            for i in range(args.pods):
                name = f"w{i}"
                netns = plan.pod_netns(name)
                t0 = time.monotonic()
                cmd = [CNILAB, "pod", "add", name, "--node", plan.nodes[i % 2].name]
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                t1 = time.monotonic()
                while netns not in listener.seen and time.monotonic() - t0 < 10:
                    time.sleep(0.005)
                shown = listener.seen.get(netns)
                if shown is None:
                    raise SystemExit(f"pod {name} never showed up in the events")
                total.append(shown - t0)
                after_cli.append(max(shown - t1, 0.0))
        finally:
            server.shutdown()
            build.down(plan)

    def ms(values: list[float]) -> str:
        return (
            f"median {statistics.median(values) * 1000:6.0f} ms, max {max(values) * 1000:6.0f} ms"
        )

    print(f"{args.pods} pods: `cnilab pod add` start -> SSE event with the wired pod: {ms(total)}")
    print(f"{'':10} `cnilab pod add` exit  -> SSE event with the wired pod: {ms(after_cli)}")


if __name__ == "__main__":
    main()

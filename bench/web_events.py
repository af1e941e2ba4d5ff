"""From `cnilab pod add` to the browser's event: how long until the page can show a pod.

Run as root: `.venv/bin/python bench/web_events.py [--pods 10] [--existing 0]`. Brings up
its own lab (with --existing pods already in it), serves the app on a free loopback
port (waitress, as `cnilab serve`), listens to /api/events like the page does (with
topology deltas), and times each `cnilab pod add` (a real CLI process) until the
events show the pod's eth0 wired to its veth; it also counts the bytes the stream
sent for each new pod. Everything is removed afterwards.
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

from waitress.server import create_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app import create_app
from lab.cluster import build
from lab.cluster.plan import make_plan
from lab.live.delta import apply_delta
from lab.runtime.pods import Runtime

CNILAB = str(Path(sys.executable).parent / "cnilab")


class Listener(threading.Thread):
    """Reads the SSE stream and notes when each pod's eth0 first has a veth peer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self.bytes = 0  # every byte of topology events so far
        self.topology: dict | None = None

    def run(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url, timeout=60) as stream:
            event = ""
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event.startswith("topology"):
                    self.bytes += len(raw)
                    data = json.loads(line[6:])
                    if event == "topology":
                        self.topology = data
                    elif self.topology is not None:
                        self.topology = {
                            **apply_delta(self.topology, data),
                            "version": data["version"],
                        }
                    self._note(self.topology or {"nodes": []})
                    self.ready.set()

    def _note(self, topology: dict) -> None:
        now = time.monotonic()
        for node in topology["nodes"]:
            if node.get("type") == "interface" and node.get("name") == "eth0" and node.get("peer"):
                self.seen.setdefault(node["ns"], now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--existing", type=int, default=0, help="pods made before timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plan = build.up(make_plan(2, prefix=f"bw{uuid.uuid4().hex[:5]}", state_dir=tmp))
        runtime = Runtime(plan)
        for i in range(args.existing):
            runtime.add(f"e{i}", plan.nodes[i % 2].name)
        app = create_app({"STATE_DIR": tmp, "TOKEN": "bench", "MAX_STREAMS": 4})
        server = create_server(app, host="127.0.0.1", port=0, threads=8)
        threading.Thread(target=server.run, daemon=True).start()
        per_pod: list[int] = []
        try:
            port = server.effective_port
            listener = Listener(f"http://127.0.0.1:{port}/api/events?deltas=1&token=bench")
            listener.start()
            listener.ready.wait(60)
            time.sleep(1.0)  # let the watcher settle after the existing pods
            env = {**os.environ, "CNILAB_STATE_DIR": tmp}
            total, after_cli = [], []
            for i in range(args.pods):
                name = f"w{i}"
                netns = plan.pod_netns(name)
                t0 = time.monotonic()
                sent = listener.bytes
                cmd = [CNILAB, "pod", "add", name, "--node", plan.nodes[i % 2].name]
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                t1 = time.monotonic()
                while netns not in listener.seen and time.monotonic() - t0 < 10:
                    time.sleep(0.005)
                shown = listener.seen.get(netns)
                if shown is None:
                    raise SystemExit(f"pod {name} never showed up in the events")
                time.sleep(0.3)  # the events that finish the pod's wiring
                per_pod.append(listener.bytes - sent)
                total.append(shown - t0)
                after_cli.append(max(shown - t1, 0.0))
        finally:
            app.extensions["cnilab"].hub.stop()
            server.close()
            build.down(plan)

    def ms(values: list[float]) -> str:
        return (
            f"median {statistics.median(values) * 1000:6.0f} ms, max {max(values) * 1000:6.0f} ms"
        )

    print(f"{args.pods} pods: `cnilab pod add` start -> SSE event with the wired pod: {ms(total)}")
    print(f"{'':10} `cnilab pod add` exit  -> SSE event with the wired pod: {ms(after_cli)}")
    kib = sorted(b / 1024 for b in per_pod)
    print(
        f"{'':10} topology bytes sent per new pod, with {args.existing} pods already: "
        f"median {statistics.median(kib):.1f} KiB, max {kib[-1]:.1f} KiB"
    )


if __name__ == "__main__":
    main()

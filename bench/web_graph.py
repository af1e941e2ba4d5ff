"""The page at 2 x 250 pods: how long until the graph is drawn, how smooth pan and zoom
are, and how many bytes a one-pod change costs on the event stream.

Run as root: `.venv/bin/python bench/web_graph.py [--pods 250]`. Brings up a lab of its
own (`bench-<id>` prefix: nodes, underlay, internet, masquerade, routes), adds --pods pod
namespaces per node directly with pyroute2 (as bench/inspect_snapshot.py does; no pod
records: the inspector finds them by name and veth), serves the app on a loopback port
and opens it in Debian's Chromium (Playwright) at 1440x900. Prints the page-ready time
(navigation to the graph drawn), frame times while zooming and panning (Performance API,
requestAnimationFrame), how long a kernel change takes to reach an event-stream client
(a veth, then a route, added in node1's namespace; --changes of each, timed until the
client's topology, rebuilt from the deltas, holds them), and the SSE delta for one more
pod (lab.live.topology_feed, on two real snapshots). Writes docs/graph-500-pods.png.
Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from waitress.server import create_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app import create_app
from bench.inspect_snapshot import destroy, iproute_in, make_netns
from lab.cluster import build
from lab.cluster.plan import Plan, make_plan
from lab.inspect import Inspector
from lab.kernel.netns import open_netns
from lab.live.delta import apply_delta
from lab.live.topology_feed import feed

DOCS = Path(__file__).resolve().parent.parent / "docs"
TOKEN = "bench-token"
FRAMES = """async () => {
  const cy = window.cnilab.cy;
  const times = [];
  let last = performance.now();
  for (let i = 0; i < 90; i += 1) {
    await new Promise((r) => requestAnimationFrame(r));
    const now = performance.now();
    times.push(now - last);
    last = now;
    const at = { x: 500, y: 370 };
    if (i < 45) cy.zoom({ level: cy.zoom() * (i < 22 ? 1.03 : 0.97), renderedPosition: at });
    else cy.panBy({ x: i < 68 ? 12 : -12, y: 4 });
  }
  return times;
}"""


def add_pods(plan: Plan, per_node: int, start: int = 0, nodes: int | None = None) -> None:
    for n, node in enumerate(plan.nodes[:nodes]):
        with iproute_in(node.netns) as ipr:
            bridge = ipr.link_lookup(ifname="cni0")[0]
            for p in range(start, start + per_node):
                pod = f"{plan.prefix}-n{n + 1}p{p}"
                make_netns(pod)
                fd = open_netns(f"/run/netns/{pod}")
                try:
                    ipr.link(
                        "add",
                        ifname=f"vb{p}",
                        kind="veth",
                        peer={"ifname": "eth0", "net_ns_fd": fd},
                    )
                finally:
                    os.close(fd)
                ipr.link("set", ifname=f"vb{p}", master=bridge, state="up")
                with iproute_in(pod) as q:
                    eth0 = q.link_lookup(ifname="eth0")[0]
                    q.link("set", index=1, state="up")
                    q.addr("add", index=eth0, address=f"10.244.{n}.{p + 2}", prefixlen=24)
                    q.link("set", index=eth0, state="up")
                    q.route("add", dst="0.0.0.0/0", gateway=f"10.244.{n}.1")


def delta_bytes(plan: Plan, per_node: int) -> tuple[int, int]:
    with Inspector(plan) as inspector:
        before = {**inspector.snapshot().to_dict(), "lab_up": True}
        add_pods(plan, 1, start=per_node, nodes=1)
        after = {**inspector.snapshot().to_dict(), "lab_up": True}
    _, second = feed(iter([before, after]))
    return len(second.delta_event or second.full_event), len(second.full_event)


class Listener(threading.Thread):
    """An event-stream client as the page is one: the full topology, then its deltas."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.topology: dict | None = None
        self.changed = threading.Condition()

    def run(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url, timeout=120) as stream:
            event = ""
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event.startswith("topology"):
                    data = json.loads(line[6:])
                    with self.changed:
                        if event == "topology":
                            self.topology = data
                        elif self.topology is not None:
                            new = apply_delta(self.topology, data)
                            self.topology = {**new, "version": data["version"]}
                        self.changed.notify_all()

    def wait_for(self, seen: Callable[[dict], bool], timeout: float = 10) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.topology and seen(self.topology), timeout)


def _has(node_id: str, check: Callable[[dict], bool] = lambda n: True) -> Callable[[dict], bool]:
    return lambda t: any(n["id"] == node_id and check(n) for n in t["nodes"])


def sse_delays(port: int, plan: Plan, runs: int) -> tuple[list[float], list[float]]:
    """Seconds from a kernel change in node1 to the event that shows it, for veths, routes."""
    listener = Listener(f"http://127.0.0.1:{port}/api/events?deltas=1&token={TOKEN}")
    listener.start()
    if not listener.wait_for(lambda t: bool(t["nodes"]), 60):
        raise RuntimeError("no topology on the event stream")
    node1 = plan.nodes[0].netns
    veths, routes = [], []
    with iproute_in(node1) as ipr:
        for i in range(runs):
            time.sleep(0.3)  # apart, as changes a user makes are
            start = time.perf_counter()
            ipr.link("add", ifname=f"lb{i}", kind="veth", peer=f"lb{i}p")
            if not listener.wait_for(_has(f"if:{node1}:lb{i}")):
                raise RuntimeError(f"veth lb{i} never showed on the event stream")
            veths.append(time.perf_counter() - start)
            time.sleep(0.3)
            dst = f"172.16.{i}.0/24"
            start = time.perf_counter()
            ipr.route("add", dst=dst, gateway="10.244.0.2")  # the first pod
            routed = _has(f"ns:{node1}", lambda n, d=dst: any(r["dst"] == d for r in n["routes"]))
            if not listener.wait_for(routed):
                raise RuntimeError(f"route {dst} never showed on the event stream")
            routes.append(time.perf_counter() - start)
        for i in range(runs):
            ipr.link("del", ifname=f"lb{i}")
    return veths, routes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browse(url: str, namespaces: int) -> tuple[float, list[float]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless=new", "--no-sandbox"]
        )
        page = chromium.new_page(viewport={"width": 1440, "height": 900})
        page.add_init_script(f"sessionStorage.setItem('cnilab-token', {TOKEN!r});")
        page.goto(url)
        page.wait_for_function(
            "(n) => window.cnilab && window.cnilab.model.namespaces.size >= n",
            arg=namespaces,
            timeout=60_000,
        )
        ready = page.evaluate("() => performance.now()") / 1000
        page.wait_for_timeout(500)
        DOCS.mkdir(exist_ok=True)
        page.locator("[data-testid=graph]").screenshot(path=str(DOCS / "graph-500-pods.png"))
        frames = page.evaluate(FRAMES)
        chromium.close()
    return ready, frames


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=250, help="pods per node")
    ap.add_argument("--changes", type=int, default=9, help="kernel changes of each kind timed")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium figures")
    args = ap.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:5]}"
    with tempfile.TemporaryDirectory() as state:
        plan = build.up(make_plan(2, prefix=prefix, state_dir=state))
        try:
            started = time.perf_counter()
            add_pods(plan, args.pods)
            print(f"added {2 * args.pods} pods in {time.perf_counter() - started:.1f} s")
            port = free_port()
            app = create_app({"STATE_DIR": state, "TOKEN": TOKEN, "PORT": port})
            server = create_server(app, host="127.0.0.1", port=port, threads=8)
            threading.Thread(target=server.run, daemon=True).start()
            if not args.no_browser:
                ready, frames = browse(f"http://127.0.0.1:{port}/", 2 * args.pods + 4)
                shown = sorted(frames[5:])
                print(f"page ready (navigation -> graph of {2 * args.pods} pods): {ready:.2f} s")
                median, p95 = statistics.median(shown), shown[int(len(shown) * 0.95)]
                print(
                    f"zoom + pan, {len(shown)} frames: median {median:.1f} ms "
                    f"({1000 / median:.0f} fps), p95 {p95:.1f} ms"
                )
            veths, routes = sse_delays(port, plan, args.changes)
            app.extensions["cnilab"].hub.stop()
            server.close()
            for what, values in (("veth", veths), ("route", routes)):
                print(
                    f"kernel change -> SSE client, new {what}: median "
                    f"{statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
                )
            small, full = delta_bytes(plan, args.pods)
            print(f"SSE for one more pod: {small / 1024:.1f} KiB (full: {full / 1024:.0f} KiB)")
        finally:
            build.down(plan)
            print(f"removed {destroy(prefix)} pod namespaces")
    return 0


if __name__ == "__main__":
    sys.exit(main())

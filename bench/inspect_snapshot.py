"""The inspector on a big lab: 2 nodes x 100 pods (202 namespaces) by default.

Run as root: `.venv/bin/python bench/inspect_snapshot.py [--nodes 2] [--pods 100]`.
It builds `bench-<id>-*` namespaces directly with pyroute2 (a cni0 bridge per node,
a veth into each pod, addresses and a default route), then prints: the time to open
every namespace's socket, a full snapshot (median of --runs), the JSON export, how
long the Watcher takes to publish a new veth and a new route, and, for comparison,
`IPRoute(netns=...)` per namespace. The host's own namespace is not touched, and
everything is removed afterwards, even on failure.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pyroute2 import IPRoute, netns

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab.cluster.plan import make_plan
from lab.inspect import Inspector, Snapshot, Watcher
from lab.kernel.netns import in_netns, open_netns

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
_libc = ctypes.CDLL(None, use_errno=True)


def in_thread(fn: Callable[[], object]) -> object:
    """Run `fn` in a short-lived thread (one that may change namespace), return its value."""
    out: list[object] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as e:
            failed.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if failed:
        raise failed[0]
    return out[0]


def make_netns(name: str) -> None:
    """Like `ip netns add`, without forking: a throwaway thread unshares and is mounted."""

    def run() -> None:
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
        path = f"/run/netns/{name}"
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        src = b"/proc/thread-self/ns/net"
        if _libc.mount(src, path.encode(), b"none", MS_BIND, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount on {path} failed")

    in_thread(run)


def iproute_in(name: str) -> IPRoute:
    """An IPRoute usable from this thread, on a socket made inside namespace `name`."""

    def make() -> int:
        with in_netns(f"/run/netns/{name}"):
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
        return sock.detach()

    return IPRoute(fileno=in_thread(make))


def build(prefix: str, nodes: int, pods: int) -> dict[str, IPRoute]:
    os.makedirs("/run/netns", exist_ok=True)
    node_sockets = {}
    for n in range(1, nodes + 1):
        node = f"{prefix}-node{n}"
        make_netns(node)
        ipr = node_sockets[node] = iproute_in(node)
        ipr.link("set", index=1, state="up")
        ipr.link("add", ifname="cni0", kind="bridge")
        bridge = ipr.link_lookup(ifname="cni0")[0]
        ipr.addr("add", index=bridge, address=f"10.244.{n - 1}.1", prefixlen=24)
        ipr.link("set", index=bridge, state="up")
        for p in range(pods):
            pod = f"{prefix}-n{n}p{p}"
            make_netns(pod)
            fd = open_netns(f"/run/netns/{pod}")
            try:
                peer = {"ifname": "eth0", "net_ns_fd": fd}
                ipr.link("add", ifname=f"veth{p}", kind="veth", peer=peer)
            finally:
                os.close(fd)
            ipr.link("set", ifname=f"veth{p}", master=bridge, state="up")
            with iproute_in(pod) as q:
                eth0 = q.link_lookup(ifname="eth0")[0]
                q.link("set", index=1, state="up")
                q.addr("add", index=eth0, address=f"10.244.{n - 1}.{p + 2}", prefixlen=24)
                q.link("set", index=eth0, state="up")
                q.route("add", dst="0.0.0.0/0", gateway=f"10.244.{n - 1}.1")
    return node_sockets


def destroy(prefix: str) -> int:
    gone = 0
    for name in netns.listnetns():
        if name.startswith(prefix + "-"):
            netns.remove(name)
            gone += 1
    return gone


def notice_delay(
    watcher: Watcher, change: Callable[[], None], seen: Callable[[Snapshot], bool]
) -> float:
    start = time.perf_counter()
    change()
    if watcher.wait_for(seen, 10) is None:
        raise RuntimeError("the watcher did not publish the change within 10 s")
    return time.perf_counter() - start


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def run(prefix: str, nodes: int, pods: int, runs: int) -> None:
    started = time.perf_counter()
    node_sockets = build(prefix, nodes, pods)
    total = nodes * (pods + 1)
    print(f"built {total} namespaces in {time.perf_counter() - started:.2f} s")
    with tempfile.TemporaryDirectory() as state:
        plan = make_plan(nodes, prefix=prefix, state_dir=state)
        with Inspector(plan) as inspector:
            start = time.perf_counter()
            opened = inspector.open()
            print(f"open sockets ({opened} namespaces):     {ms(time.perf_counter() - start)}")
            first = inspector.snapshot()
            print(f"first snapshot (asks every nsid once):  {ms(first.took)}")
            if os.environ.get("CNILAB_PROFILE"):
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.enable()
                inspector.snapshot()
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            snaps = [inspector.snapshot() for _ in range(runs)]
            took = [s.took for s in snaps]
            print(
                f"full snapshot, median of {runs}:          {ms(statistics.median(took))}"
                f"  (min {ms(min(took)).strip()}, max {ms(max(took)).strip()})"
            )
            g = snaps[-1].graph
            start = time.perf_counter()
            text = snaps[-1].to_json()
            print(
                f"node-link JSON ({len(text) // 1024} KiB, {g.number_of_nodes()} nodes, "
                f"{g.number_of_edges()} edges): {ms(time.perf_counter() - start)}"
            )
            assert len(snaps[-1].namespaces()) == total, snaps[-1].namespaces()

            node1 = f"{prefix}-node1"
            ipr = node_sockets[node1]
            with Watcher(inspector) as watcher:
                watcher.wait(timeout=30)
                veths, routes = [], []
                for i in range(runs):
                    veths.append(
                        notice_delay(
                            watcher,
                            lambda i=i: ipr.link(
                                "add", ifname=f"vb{i}", kind="veth", peer=f"vb{i}p"
                            ),
                            lambda s, i=i: s.interface(node1, f"vb{i}") is not None,
                        )
                    )
                    dst = f"172.16.{i}.0/24"
                    routes.append(
                        notice_delay(
                            watcher,
                            lambda dst=dst: ipr.route("add", dst=dst, gateway="10.244.0.2"),
                            lambda s, dst=dst: any(
                                r["dst"] == dst for r in s.graph.nodes[f"ns:{node1}"]["routes"]
                            ),
                        )
                    )
            print(
                f"watcher: new veth published, median:   {ms(statistics.median(veths))}"
                f"  (max {ms(max(veths)).strip()})"
            )
            print(
                f"watcher: new route published, median:  {ms(statistics.median(routes))}"
                f"  (max {ms(max(routes)).strip()})"
            )
    for ipr in node_sockets.values():
        ipr.close()

    sample = sorted(n for n in netns.listnetns() if n.startswith(prefix + "-"))[:20]
    start = time.perf_counter()
    for name in sample:
        with IPRoute(netns=name, flags=0) as ipr:
            ipr.link("dump")
    each = (time.perf_counter() - start) / len(sample)
    print(
        f"for comparison, IPRoute(netns=) + link dump: {ms(each).strip()} a namespace, "
        f"~{each * total:.1f} s for {total}"
    )


def main() -> int:
    if os.geteuid() != 0:
        print("run as root: it creates network namespaces", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--pods", type=int, default=100, help="pods per node")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    try:
        run(prefix, args.nodes, args.pods, args.runs)
    finally:
        print(f"removed {destroy(prefix)} namespaces")
    return 0


if __name__ == "__main__":
    sys.exit(main())

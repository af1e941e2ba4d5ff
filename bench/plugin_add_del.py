"""pycni against the reference `bridge` + `host-local`, in one run, on the same machine.

Run as root: `make bench` (or `.venv/bin/python bench/plugin_add_del.py --pods 30`).
Everything happens in namespaces this script creates and removes; the host's own
namespace is not touched. Reports medians and ratios to the reference, each ratio
taken within one round and the median over `--rounds` (the machine may be shared).

pycni runs three ways: with a `pycni daemon` started on its node, on a node where
nobody started one (its first, untimed call starts it), and with PYCNI_NO_DAEMON=1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import netns

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab.cni.invoke import REFERENCE_BIN
from lab.kernel.netns import in_netns
from lab.pycni.daemon_control import stop_daemons_in
from lab.pycni.launcher import write_launchers


@dataclass
class Impl:
    name: str
    plugin: Path
    conf: dict
    env: dict
    node: str = "node"  # the node namespace its calls run in (its role in `nodes`)


def impls(work: Path) -> list[Impl]:
    def conf(plugin: str, bridge: str, subnet: str, ipam: str) -> dict:
        return {
            "cniVersion": "1.0.0",
            "name": f"bench-{bridge}",
            "type": plugin,
            "bridge": bridge,
            "isGateway": True,
            "isDefaultGateway": True,
            "logFile": str(work / "pycni.log"),
            "ipam": {"type": ipam, "subnet": subnet, "dataDir": str(work / "ipam")},
        }

    return [
        Impl(
            "reference bridge+host-local",
            REFERENCE_BIN / "bridge",
            conf("bridge", "br-ref", "10.200.0.0/16", "host-local"),
            {},
        ),
        Impl(
            "pycni (daemon)",
            work / "bin" / "pycni",
            conf("pycni", "br-daemon", "10.201.0.0/16", "pycni-ipam"),
            {},
        ),
        Impl(  # a node where nobody started one: pycni's first call does
            "pycni (self-started daemon)",
            work / "bin" / "pycni",
            conf("pycni", "br-auto", "10.203.0.0/16", "pycni-ipam"),
            {},
            node="auto",
        ),
        Impl(
            "pycni (no daemon)",
            work / "bin" / "pycni",
            conf("pycni", "br-plain", "10.202.0.0/16", "pycni-ipam"),
            {"PYCNI_NO_DAEMON": "1"},
        ),
    ]


def env_for(impl: Impl, command: str, cid: str, pod: str, cni_path: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": f"{impl.conf['bridge']}-{cid}",  # container IDs are unique per pod
        "CNI_NETNS": f"/run/netns/{pod}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": cni_path,
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        **impl.env,
    }


def start(impl: Impl, command: str, cid: str, pod: str, env: Env) -> subprocess.Popen:
    with in_netns(f"/run/netns/{env.nodes[impl.node]}"):  # the child is born in the node
        proc = subprocess.Popen(
            [str(impl.plugin)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env_for(impl, command, cid, pod, env.cni_path),
        )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(impl.conf).encode())
    proc.stdin.close()
    return proc


def finish(proc: subprocess.Popen) -> None:
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    if proc.wait() != 0:
        raise SystemExit(f"plugin failed: {out.decode()} {err.decode()}")


def timed(impl: Impl, command: str, cid: str, pod: str, env: Env) -> float:
    t0 = time.perf_counter()
    finish(start(impl, command, cid, pod, env))
    return time.perf_counter() - t0


@dataclass
class Env:
    nodes: dict[str, str]  # role -> namespace
    cni_path: str


def one_round(r: int, impls_: list[Impl], pods: dict, burst_pods: dict, env: Env) -> dict:
    """Sequential ADDs then DELs, interleaved so drift hits every implementation alike,
    then one burst of concurrent ADDs per implementation (and their DELs)."""
    add: dict[str, list[float]] = {i.name: [] for i in impls_}
    dele: dict[str, list[float]] = {i.name: [] for i in impls_}
    for phase, times in (("ADD", add), ("DEL", dele)):
        for n in range(len(pods[impls_[0].name])):
            for impl in impls_:
                times[impl.name].append(timed(impl, phase, f"r{r}s{n}", pods[impl.name][n], env))
    burst: dict[str, float] = {}
    # each round in another order: a burst runs slower right after another's 50 DELs
    for impl in impls_[r % len(impls_) :] + impls_[: r % len(impls_)]:
        t0 = time.perf_counter()
        procs = [
            start(impl, "ADD", f"r{r}c{n}", p, env) for n, p in enumerate(burst_pods[impl.name])
        ]
        for proc in procs:
            finish(proc)
        burst[impl.name] = time.perf_counter() - t0
        for n, p in enumerate(burst_pods[impl.name]):
            finish(start(impl, "DEL", f"r{r}c{n}", p, env))
    ref = impls_[0].name
    return {
        impl.name: {
            "add_median_ms": statistics.median(add[impl.name]) * 1000,
            "del_median_ms": statistics.median(dele[impl.name]) * 1000,
            "concurrent_adds_s": burst[impl.name],
            "add_ratio": statistics.median(add[impl.name]) / statistics.median(add[ref]),
            "del_ratio": statistics.median(dele[impl.name]) / statistics.median(dele[ref]),
            "concurrent_ratio": burst[impl.name] / burst[ref],
        }
        for impl in impls_
    }


def warm(impls_: list[Impl], pod: str, env: Env) -> None:
    """Two untimed ADD/DELs each: the second waits for a self-started daemon to be warm."""
    for n in range(2):
        for impl in impls_:
            for command in ("ADD", "DEL"):
                finish(start(impl, command, f"warm{n}", pod, env))


def run(pods: int, concurrent: int, rounds: int) -> dict:
    """Median of each figure over `rounds` rounds (each ratio within its own round)."""
    tag = uuid.uuid4().hex[:6]
    made: list[str] = []

    def new_ns(role: str) -> str:
        name = f"bench-{tag}-{role}-{len(made)}"
        netns.create(name)
        made.append(name)
        return name

    daemon = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bin_dir = work / "bin"
        write_launchers(bin_dir)
        env = Env({}, f"{bin_dir}:{REFERENCE_BIN}")
        try:
            env.nodes.update(node=new_ns("node"), auto=new_ns("auto"))
            all_impls = impls(work)
            seq_pods = {i.name: [new_ns("pod") for _ in range(pods)] for i in all_impls}
            con_pods = {i.name: [new_ns("pod") for _ in range(concurrent)] for i in all_impls}
            with in_netns(f"/run/netns/{env.nodes['node']}"):
                daemon = subprocess.Popen([str(bin_dir / "pycni"), "daemon"])
            warm(all_impls, new_ns("pod"), env)
            reports = [one_round(r, all_impls, seq_pods, con_pods, env) for r in range(rounds)]
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait()
            for node in env.nodes.values():  # the self-started one above all
                stop_daemons_in(f"/run/netns/{node}")
            for name in made:
                netns.remove(name)
    return {
        name: {
            key: round(statistics.median(rep[name][key] for rep in reports), 2)
            for key in reports[0][name]
        }
        for name in reports[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=30, help="sequential ADD/DEL per plugin")
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="medians over this many rounds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.pods, args.concurrent, args.rounds)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    burst = f"{args.concurrent}x ADD s"
    print(f"{'':30} {'ADD ms':>8} {'ratio':>6} {'DEL ms':>8} {'ratio':>6} {burst:>10} {'ratio':>6}")
    for name, r in report.items():
        print(
            f"{name:30} {r['add_median_ms']:8} {r['add_ratio']:6} {r['del_median_ms']:8} "
            f"{r['del_ratio']:6} {r['concurrent_adds_s']:10} "
            f"{r['concurrent_ratio']:6}"
        )


if __name__ == "__main__":
    main()

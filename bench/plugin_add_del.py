"""pycni against the reference `bridge` + `host-local`, in one run, on the same node.

Run as root: `make bench` (or `.venv/bin/python bench/plugin_add_del.py --pods 30`).
Everything happens in namespaces this script creates and removes; the host's own
namespace is not touched. Reports medians and ratios to the reference.
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
from lab.pycni.launcher import write_launchers

VENV_BIN = Path(sys.executable).parent


@dataclass
class Impl:
    name: str
    plugin: Path
    conf: dict
    env: dict


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
            "pycni (agent)",
            work / "bin" / "pycni",
            conf("pycni", "br-agent", "10.201.0.0/16", "pycni-ipam"),
            {},
        ),
        Impl(
            "pycni (no agent)",
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


def start(impl: Impl, command: str, cid: str, pod: str, cni_path: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(impl.plugin)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for(impl, command, cid, pod, cni_path),
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


def timed(impl: Impl, command: str, cid: str, pod: str, cni_path: str) -> float:
    t0 = time.perf_counter()
    finish(start(impl, command, cid, pod, cni_path))
    return time.perf_counter() - t0


def run(pods: int, concurrent: int) -> dict:
    tag = uuid.uuid4().hex[:6]
    made: list[str] = []

    def new_ns(role: str) -> str:
        name = f"bench-{tag}-{role}-{len(made)}"
        netns.create(name)
        made.append(name)
        return name

    agent = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bin_dir = work / "bin"
        write_launchers(bin_dir)
        cni_path = f"{bin_dir}:{REFERENCE_BIN}"
        try:
            node = new_ns("node")
            all_impls = impls(work)
            seq_pods = {i.name: [new_ns("pod") for _ in range(pods)] for i in all_impls}
            con_pods = {i.name: [new_ns("pod") for _ in range(concurrent)] for i in all_impls}
            with in_netns(f"/run/netns/{node}"):
                agent = subprocess.Popen([str(bin_dir / "pycni"), "agent"])
                time.sleep(1.5)  # the agent imports pyroute2 once, here
                add: dict[str, list[float]] = {i.name: [] for i in all_impls}
                dele: dict[str, list[float]] = {i.name: [] for i in all_impls}
                for n in range(pods):  # interleaved, so drift hits every implementation alike
                    for impl in all_impls:
                        add[impl.name].append(
                            timed(impl, "ADD", f"s{n}", seq_pods[impl.name][n], cni_path)
                        )
                for n in range(pods):
                    for impl in all_impls:
                        dele[impl.name].append(
                            timed(impl, "DEL", f"s{n}", seq_pods[impl.name][n], cni_path)
                        )
                burst: dict[str, float] = {}
                for impl in all_impls:
                    t0 = time.perf_counter()
                    procs = [
                        start(impl, "ADD", f"c{n}", p, cni_path)
                        for n, p in enumerate(con_pods[impl.name])
                    ]
                    for proc in procs:
                        finish(proc)
                    burst[impl.name] = time.perf_counter() - t0
                    for n, p in enumerate(con_pods[impl.name]):
                        finish(start(impl, "DEL", f"c{n}", p, cni_path))
        finally:
            if agent is not None:
                agent.terminate()
                agent.wait()
            for name in made:
                netns.remove(name)
    ref = all_impls[0].name
    report = {}
    for impl in all_impls:
        a, d = statistics.median(add[impl.name]), statistics.median(dele[impl.name])
        report[impl.name] = {
            "add_median_ms": round(a * 1000, 1),
            "del_median_ms": round(d * 1000, 1),
            f"concurrent_{concurrent}_adds_s": round(burst[impl.name], 2),
            "add_ratio": round(a / statistics.median(add[ref]), 2),
            "del_ratio": round(d / statistics.median(dele[ref]), 2),
            "concurrent_ratio": round(burst[impl.name] / burst[ref], 2),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=30, help="sequential ADD/DEL per plugin")
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.pods, args.concurrent)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    burst = f"{args.concurrent}x ADD s"
    print(f"{'':30} {'ADD ms':>8} {'ratio':>6} {'DEL ms':>8} {'ratio':>6} {burst:>10} {'ratio':>6}")
    for name, r in report.items():
        print(
            f"{name:30} {r['add_median_ms']:8} {r['add_ratio']:6} {r['del_median_ms']:8} "
            f"{r['del_ratio']:6} {r[f'concurrent_{args.concurrent}_adds_s']:10} "
            f"{r['concurrent_ratio']:6}"
        )


if __name__ == "__main__":
    main()

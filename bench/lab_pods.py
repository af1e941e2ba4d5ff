"""The lab as a whole: `cnilab up`, then N pods per node added and removed through the
runtime, with pycni and then with the reference `bridge` + `host-local` in the same run.

Run as root: `.venv/bin/python bench/lab_pods.py --pods 100`. Uses its own namespace
prefix and state dir; everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab.cluster import build
from lab.cluster.plan import Plan, make_plan
from lab.runtime.pods import Runtime

CNILAB = str(Path(sys.executable).parent / "cnilab")


def cycle(runtime: Runtime, plan: Plan, pods: int, tag: str) -> tuple[list[float], list[float]]:
    adds, dels = [], []
    names = [(f"{tag}{n.name[-1]}-{i}", n.name) for i in range(pods) for n in plan.nodes]
    for name, node in names:
        t0 = time.perf_counter()
        runtime.add(name, node)
        adds.append(time.perf_counter() - t0)
    for name, _ in names:
        t0 = time.perf_counter()
        runtime.delete(name)
        dels.append(time.perf_counter() - t0)
    return adds, dels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=100, help="pods per node")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        prefix = f"bl{uuid.uuid4().hex[:5]}"
        env = {**os.environ, "CNILAB_STATE_DIR": f"{tmp}/cli"}
        t0 = time.perf_counter()
        subprocess.run([CNILAB, "up", "--prefix", prefix], env=env, check=True, capture_output=True)
        cli_up = time.perf_counter() - t0
        subprocess.run([CNILAB, "down"], env=env, check=True, capture_output=True)

        plan = make_plan(2, prefix=prefix, state_dir=f"{tmp}/lab")
        t0 = time.perf_counter()
        build.up(plan)
        lib_up = time.perf_counter() - t0
        try:
            time.sleep(1.5)  # let the pycni daemons finish warming up
            runtime = Runtime(plan)
            py_add, py_del = cycle(runtime, plan, args.pods, "p")
            build.use_reference_plugins(plan)
            ref_add, ref_del = cycle(runtime, plan, args.pods, "r")
        finally:
            t0 = time.perf_counter()
            build.down(plan)
            down = time.perf_counter() - t0

    def ms(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 1)

    print(f"cnilab up (CLI process) {cli_up:.2f} s; up (library) {lib_up:.2f} s; down {down:.2f} s")
    print(f"{2 * args.pods} pods, per pod through the runtime (median ms):")
    print(f"{'':32} {'add':>7} {'del':>7}")
    print(f"{'reference bridge+host-local':32} {ms(ref_add):7} {ms(ref_del):7}")
    print(f"{'pycni (daemon)':32} {ms(py_add):7} {ms(py_del):7}")
    print(f"{'ratio':32} {ms(py_add) / ms(ref_add):7.2f} {ms(py_del) / ms(ref_del):7.2f}")


if __name__ == "__main__":
    main()

"""How long a trace takes on the lab: in a warm process (the web app) and as a CLI call.

Run as root: `.venv/bin/python bench/trace_time.py [--pods N]` (N more pods on each
node, to see that a trace's cost does not grow with them). Uses its own lab prefix.
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
from lab.cluster.plan import make_plan
from lab.runtime.pods import Runtime
from lab.trace.tracer import trace

CNILAB = str(Path(sys.executable).parent / "cnilab")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=0, help="more pods on each node")
    extra = parser.parse_args().pods
    with tempfile.TemporaryDirectory() as tmp:
        plan = build.up(make_plan(2, prefix=f"bt{uuid.uuid4().hex[:5]}", state_dir=tmp))
        try:
            runtime = Runtime(plan)
            for name, node in (("a", "node1"), ("b", "node1"), ("c", "node2")):
                runtime.add(name, node)
            for i in range(extra):
                for node in ("node1", "node2"):
                    runtime.add(f"x{node[-1]}-{i}", node)
            print(f"{3 + 2 * extra} pods")
            trace(plan, "a", "c")  # imports (scapy) once
            print(f"{'trace (warm process)':28} {'median ms':>10} {'max ms':>8}")
            for label, dst, proto, port in (
                ("same node icmp", "b", "icmp", 0),
                ("cross node icmp", "c", "icmp", 0),
                ("cross node tcp", "c", "tcp", 80),
                ("egress icmp", "internet", "icmp", 0),
            ):
                times = []
                for _ in range(20):
                    result = trace(plan, "a", dst, proto, port)
                    assert result.replied, result.why
                    times.append(result.ms)
                print(f"{label:28} {statistics.median(times):10.1f} {max(times):8.1f}")
            env = {**os.environ, "CNILAB_STATE_DIR": tmp}
            t0 = time.perf_counter()
            subprocess.run([CNILAB, "trace", "a", "c"], env=env, check=True, capture_output=True)
            print(f"{'cnilab trace a c (process)':28} {(time.perf_counter() - t0) * 1000:10.1f}")
        finally:
            build.down(plan)


if __name__ == "__main__":
    main()

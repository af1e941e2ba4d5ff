"""What `cnilab trace` pays before its first packet: importing the tracer, in fresh
processes, against scapy imported as it is by default (its route tables loaded).

Run: `.venv/bin/python bench/trace_import.py [--runs N]`. Medians in ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "python -c pass": "pass",
    "scapy, default (routes loaded)": (
        "from scapy.layers.inet import IP\nfrom scapy.layers.l2 import Ether"
    ),
    "lab.trace.layers (no routes)": "import lab.trace.layers",
    "lab.trace.tracer (all of it)": "import lab.trace.tracer",
}
TIMER = "import time\nt = time.perf_counter()\n{code}\nprint((time.perf_counter() - t) * 1000)"


def once(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):  # interleaved, so load changes hit every case alike
        for name, code in CASES.items():
            times[name].append(once(code))
    for name, values in times.items():
        print(f"{name:34} median {statistics.median(values):7.1f} ms  min {min(values):7.1f} ms")


if __name__ == "__main__":
    main()

"""Fuzz every target with Hypothesis' "bench" profile: at least 10,000 cases each.

Run as root: `.venv/bin/python bench/fuzz.py [--examples N] [TARGET ...]`. The targets
are the fuzz tier's test files (tests/fuzz/test_fuzz_*.py); the tier itself runs in
`make test` with a small, seeded count. Prints, per target, the cases Hypothesis ran
and whether every one held.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "tests" / "fuzz"
PASSING = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid")
TEST_NAME = re.compile(r"^(tests/fuzz/\S+::\S+):", re.M)


def targets() -> list[str]:
    return sorted(p.stem.removeprefix("test_fuzz_") for p in FUZZ.glob("test_fuzz_*.py"))


def run(target: str, examples: int) -> int:
    env = {**os.environ, "CNILAB_FUZZ_PROFILE": "bench", "CNILAB_FUZZ_EXAMPLES": str(examples)}
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics"),
            str(FUZZ / f"test_fuzz_{target}.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - started
    out = proc.stdout
    passing = sum(int(m.group(1)) for m in PASSING.finditer(out))
    failing = sum(int(m.group(2)) for m in PASSING.finditer(out))
    tests = len(TEST_NAME.findall(out))
    verdict = "ok" if proc.returncode == 0 else f"FAILED (pytest exit {proc.returncode})"
    print(
        f"{target:8} {passing:7d} cases passed, {failing} failed, "
        f"in {tests} properties, {took:6.1f} s: {verdict}"
    )
    if proc.returncode != 0:
        print(out[-4000:], proc.stderr[-2000:], sep="\n")
    return proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10_000, help="cases per property")
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(targets())}")
    args = parser.parse_args()
    chosen = args.targets or targets()
    unknown = sorted(set(chosen) - set(targets()))
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    return max(run(t, args.examples) for t in chosen)


if __name__ == "__main__":
    sys.exit(main())

"""Calling one function of a student's file, in a child process inside a namespace.

Steps whose file is not a CNI plugin (the node's bridge, the route reconciler, the
masquerade chain, the installer) are checked by calling their function where it acts:
inside a node. A child process keeps the student's code out of the checker (a crash, a
hang, a `sys.exit`), and its failure comes back as the exception and the line of the
student's file that raised it. The outcome travels in a file, so whatever the student
prints cannot be mistaken for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from lab.pycni.launcher import import_paths

TIMEOUT = 30.0

RUNNER = """
import json, runpy, sys, traceback
path, name, args, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
sys.path[:0] = json.loads(sys.argv[5])
try:
    answer = runpy.run_path(path, run_name="cnilab_step")[name](*args)
    outcome = {"ok": True, "answer": answer}
except BaseException as e:
    mine = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path]
    where = f" (line {mine[-1].lineno}: {mine[-1].line})" if mine else ""
    outcome = {"ok": False, "type": type(e).__name__, "error": f"{type(e).__name__}: {e}{where}"}
try:
    text = json.dumps(outcome)
except (TypeError, ValueError):
    text = json.dumps({"ok": False, "type": "TypeError",
                       "error": f"{name} returned something that is not JSON: {answer!r}"[:300]})
with open(out, "w") as f:
    f.write(text)
"""


class FunctionRun(NamedTuple):
    ok: bool
    answer: Any
    error: str  # the student-facing reason, with their line when they raised
    kind: str  # the exception's type name, "Timeout", or "crash"


def run_function(
    file: Path, name: str, args: list[Any], netns: str | None = None, timeout: float = TIMEOUT
) -> FunctionRun:
    """`name(*args)` from `file` (args and answer are JSON), in `netns` when given."""
    with tempfile.TemporaryDirectory(prefix="call-") as folder:
        out = Path(folder, "outcome.json")
        argv = [
            *(["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []),
            sys.executable,
            "-I",
            "-c",
            RUNNER,
            str(file),
            name,
            json.dumps(args),
            str(out),
            json.dumps(import_paths()),
        ]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            late = f"{name} did not return within {timeout:g} s"
            return FunctionRun(False, None, late, "Timeout")
        try:
            outcome = json.loads(out.read_text())
        except (OSError, ValueError):
            said = (done.stderr or done.stdout).strip()[-400:]
            reason = said or f"exit status {done.returncode}"
            return FunctionRun(False, None, f"{name} ended without an answer: {reason}", "crash")
    if outcome.get("ok"):
        return FunctionRun(True, outcome.get("answer"), "", "")
    return FunctionRun(False, None, str(outcome.get("error", "?")), str(outcome.get("type", "?")))

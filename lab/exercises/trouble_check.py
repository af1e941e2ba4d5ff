"""The check of a troubleshooting step: the diagnosis against the hidden fault's digests,
then the fix against the kernel and the traffic of a healthy lab.

The student's file is `diagnosis.py`: FAULT, NODE and OBJECT (what they found with
the graph, `cnilab trace` and `cnilab exec`), or a `diagnose(lab)` that finds them;
optionally a `fix(lab)` that repairs the lab (else they fixed it by hand). Their file
runs in a child process (lab.exercises.trouble_lab): `diagnose` first, on the lab as
it is, then `fix`. Once the check passes, the step's pods are removed and the nodes
are as the lab builds them.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from lab.exercises.checker import Checker
from lab.exercises.faults import faults_of
from lab.exercises.health import state_findings, traffic_findings
from lab.exercises.trouble import Record, clear_trouble, current_ids, first_wrong, read_record
from lab.exercises.trouble_lab import ANSWER_KEYS

RUN_TIMEOUT = 60
WHAT_IS_WRONG = {
    "fault": "is not what is wrong",
    "node": "is not where it is",
    "object": "is not the object that is broken",
}


@dataclass(frozen=True)
class Hints:
    """The README's hint for each assertion."""

    fault: int
    node: int
    object: int
    file: int
    traffic: int
    state: int


def defines(source: str, name: str) -> bool:
    """Whether the file defines a top-level function `name` (read, not run)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


def _crash(stderr: str, file: str) -> str:
    """The student's exception and the line of their file that raised it."""
    lines = stderr.strip().splitlines()
    frames = [
        (m.group(1), i)
        for i, line in enumerate(lines)
        if (m := re.match(rf'\s*File "{re.escape(file)}", line (\d+)', line))
    ]
    where = f" at line {frames[-1][0]} of {file}" if frames else ""
    shown = lines[frames[-1][1] + 1].strip() if frames and frames[-1][1] + 1 < len(lines) else ""
    last = lines[-1] if lines else "no output"
    return f"{last}{where}" + (f" ({shown})" if shown and shown != last else "")


def run_file(c: Checker, action: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "lab.exercises.trouble_lab", str(c.file), c.plan.state_dir]
    return subprocess.run(
        [*argv, action], capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )


def _answer(c: Checker, step: str) -> dict[str, str]:
    done = run_file(c, "diagnose")
    c.expect(done.returncode == 0, f"your file failed: {_crash(done.stderr, str(c.file))}")
    try:
        answer: Any = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = None
    c.expect(isinstance(answer, dict), f"diagnose must return a dict, got {done.stdout[:80]!r}")
    c.expect("error" not in answer, f"your diagnose: {answer.get('error')}")
    for key in ANSWER_KEYS:
        value = answer.get(key, "")
        c.expect(isinstance(value, str), f"{key} must be a string in quotes, got {value!r}")
    known = [f.key for f in faults_of(step)]
    fault = answer.get("fault", "").strip()
    c.expect(fault, f"FAULT is still empty: name one of {', '.join(known)}")
    c.expect(fault.lower() in known, f"{fault[:40]!r} is not a fault of this step: {known}")
    node = answer.get("node", "").strip()
    nodes = [n.name for n in c.plan.nodes]
    c.expect(node.lower() in nodes, f"NODE must be one of {nodes}, got {node[:40]!r}")
    return {k: str(answer.get(k, "")) for k in ANSWER_KEYS}


def check_trouble(c: Checker, step: str, hints: Hints) -> None:
    with c.step(
        "the step was started: its fault is hidden and its pods are there", hint=hints.file
    ):
        record = read_record(c.plan)
        c.expect(
            record is not None and record.step == step,
            f"no fault is hidden for this step: run `cnilab exercise start {step}` first",
        )
        assert record is not None
        gone = [name for name, found in current_ids(c.plan, record).items() if found is None]
        c.expect(not gone, f"the step's pods {gone} are gone: `cnilab exercise start {step}`")
    with c.step("your file gives a diagnosis (fault, node, object)", hint=hints.file):
        answer = _answer(c, step)
    for part in ANSWER_KEYS:
        with c.step(f"the diagnosis: {part}", hint=getattr(hints, part)):
            wrong = first_wrong(record, answer)
            if wrong == "object" and first_wrong(record, {**answer, "object": ""}) is None:
                c.expect(False, f"a {answer['fault']} fault names no object: leave OBJECT empty")
            c.expect(wrong != part, f"{part} = {answer[part]!r} {WHAT_IS_WRONG[part]}")
    if defines(c.file.read_text(errors="replace"), "fix"):
        with c.step("your fix(lab) runs", hint=hints.file):
            done = run_file(c, "fix")
            c.expect(done.returncode == 0, f"fix failed: {_crash(done.stderr, str(c.file))}")
    check_fixed(c, record, step, hints)
    clear_trouble(c.plan)  # solved: the step's pods go, the nodes stay as they are


def check_fixed(c: Checker, record: Record, step: str, hints: Hints) -> None:
    pods = record.scene_pods()
    with c.step(
        "the step's pods are the ones it made (not deleted and added again)", hint=hints.state
    ):
        ids = current_ids(c.plan, record)
        changed = [p.name for p in pods if ids[p.name] != p.container_id]
        c.expect(
            not changed,
            f"pods {changed} are not the ones the step made: a new pod hides a fault, it "
            f"does not fix it (`cnilab exercise start {step}` hides a new one)",
        )
    with c.step(
        "the symptom is gone: the step's pods talk as in a healthy lab", hint=hints.traffic
    ):
        problems = traffic_findings(c.plan, pods)
        c.expect(not problems, "; ".join(problems))
    with c.step(
        "the lab is repaired, not patched: its state is what the lab builds", hint=hints.state
    ):
        problems = state_findings(c.plan, pods, ids)
        c.expect(not problems, "; ".join(problems[:4]))

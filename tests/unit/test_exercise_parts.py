"""Pieces of the course machinery that need no lab: the hint ladder's parser, a
student's traceback read for their line, plugin names in messages, the start hook."""

from __future__ import annotations

from pathlib import Path

from lab.cluster.plan import make_plan
from lab.exercises.catalog import Exercise, parse_hints
from lab.exercises.failures import crash_in, name_the_plugin
from lab.exercises.start_hook import has_start, run_start

LADDER = """# step
## Hints
### Hint 1: the veth pair
#### Concept
Two ends, one in each namespace.
#### Where in the API
The link call of pyroute2, with a peer.
#### Code
`host.link("add", kind="veth")`

### Hint 2
An old hint, one paragraph.
## After the hints
not a hint
"""


def test_hints_are_read_as_ladders_and_old_hints_as_one_rung() -> None:
    one, two = parse_hints(LADDER)
    assert (one.number, one.title) == (1, "the veth pair")
    assert [r.kind for r in one.rungs] == ["Concept", "Where in the API", "Code"]
    assert one.rungs[2].text == '`host.link("add", kind="veth")`'
    assert "#### Code" not in one.shown(2) and "Two ends" in one.shown(1)
    assert (two.number, two.title, len(two.rungs)) == (2, "", 1)
    assert two.rungs[0].text == "An old hint, one paragraph."  # stops at the next heading


def test_the_students_line_is_found_in_a_traceback_and_the_checkers_ignored() -> None:
    stderr = (
        "unexpected error in CNI plugin\nTraceback (most recent call last):\n"
        '  File "/usr/lib/python3/runpy.py", line 291, in run_path\n    exec(code)\n'
        '  File "/home/s/plugin.py", line 12, in add\n    ip = result.ips[0]\n'
        '  File "/work/lab/cni/result.py", line 40, in __getitem__\n    raise IndexError\n'
        "IndexError: list index out of range\n"
    )
    crash = crash_in(stderr, ["/home/s/plugin.py"])
    assert crash is not None and (crash.line, crash.function) == (12, "add")
    told = crash.describe("plugin.py (yours)")
    assert told == (
        "plugin.py (yours) raised IndexError: list index out of range at line 12, in add: "
        "ip = result.ips[0]"
    )
    assert crash_in(stderr, ["/elsewhere/plugin.py"]) is None
    assert crash_in("no traceback here", ["/home/s/plugin.py"]) is None


def test_messages_name_the_students_file_not_the_type() -> None:
    labels = {"pycni": "plugin.py (yours)"}
    said = "ADD of ex06-a/eth0 failed: plugin type='pycni' ADD: plugin pycni failed (exit 1)"
    assert name_the_plugin(said, labels) == (
        "ADD of ex06-a/eth0 failed: plugin.py (yours) ADD: plugin.py (yours) failed (exit 1)"
    )
    other = "plugin type='bridge' ADD: no such device"
    assert name_the_plugin(other, labels) == other


def test_a_steps_start_hook_runs_with_the_plan_and_the_workspace(tmp_path: Path) -> None:
    folder = tmp_path / "10-trouble"
    folder.mkdir()
    ex = Exercise(10, "trouble", folder, "t", "answer.toml", "")
    plan = make_plan(2, prefix="pxhook", state_dir=tmp_path / "state")
    assert not has_start(ex) and run_start(ex, plan, tmp_path) is False
    (folder / "start.py").write_text(
        "def start(plan, workspace_dir):\n"
        "    (workspace_dir / 'fault').write_text(plan.nodes[1].name)\n"
    )
    assert run_start(ex, plan, tmp_path) is True
    assert (tmp_path / "fault").read_text() == "node2"

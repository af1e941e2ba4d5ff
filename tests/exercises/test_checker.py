"""The Checker's promises, on small checks of our own (not a step's, which change):
a student's crash is a FAIL with their line, results are read safely, earlier steps
come from the workspace or the reference, and a check leaves nothing behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab.cluster.plan import Plan, make_plan
from lab.exercises.catalog import Exercise, get_exercise
from lab.exercises.checker import Checker, CheckFailed, run_check
from lab.exercises.workspace import Workspace
from lab.kernel.netns import list_netns
from lab.runtime.journal import Journal

CRASHING_PLUGIN = """import sys
from lab.cni.skel import main
class Plugin:
    def add(self, args):
        answer = {}
        return answer["ips"]
sys.exit(main(Plugin()))
"""

CRASH_CHECK = """
def check(c):
    with c.step("the runtime's ADD works", hint=1):
        c.add_pod("a")
"""

CLEANUP_CHECK = """
import json, os, tempfile
from pathlib import Path

def check(c):
    seen = {}
    with c.step("a throwaway lab, folders and pods", hint=1):
        with c.scratch_lab(nodes=2, bare={"routes"}) as lab:
            seen["lab"] = lab.prefix
            seen["tempdir"] = str(c.tempdir())
            seen["mkdtemp"] = tempfile.mkdtemp(prefix="cnilab-ex99-")
            pod = c.add_pod("s", "node2", plugin=c.earlier("add"), lab=lab)
            seen["pod"] = pod.netns
            main = c.add_pod("m", "node1", plugin=c.earlier("add"))
            seen["main"] = main.netns
            kept = c.add_pod("k", "node1", plugin=c.earlier("add"), keep=True)
            seen["kept"] = kept.name
            Path(os.environ["CHECKER_TEST_OUT"]).write_text(json.dumps(seen))
            c.expect(False, "the check fails here, inside the throwaway lab")
"""


def exercise(tmp_path: Path, check: str, name: str = "99-probe") -> Exercise:
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "check.py").write_text(check)
    (folder / "README.md").write_text(
        "# probe\n## Hints\n### Hint 1: the probe\n#### Concept\nwords\n"
    )
    return Exercise(99, "probe", folder, "a probe", "plugin.py", "")


def test_result_field_fails_with_the_path_it_could_not_read(tmp_path: Path) -> None:
    plan = make_plan(1, prefix="pxunit", state_dir=tmp_path)
    c = Checker(get_exercise("add"), plan, tmp_path / "plugin.py")
    result = {"ips": [{"address": "10.244.0.5/24"}], "interfaces": "eth0"}
    assert c.result_field(result, "ips", 0, "address") == "10.244.0.5/24"
    for path, message in [
        (("ips", 1, "address"), "your result has no ips[1]"),
        (("ips", 0, "gateway"), "your result has no ips[0].gateway"),
        (("routes",), "your result has no routes"),
        (("interfaces", 0), "your result's interfaces is not a list"),
    ]:
        with pytest.raises(CheckFailed, match=message.replace("[", r"\[").replace("]", r"\]")):
            c.result_field(result, *path)


@pytest.mark.root
def test_a_students_crash_fails_with_their_line_and_their_files_name(
    plan: Plan, tmp_path: Path
) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(CRASHING_PLUGIN)
    report = run_check(exercise(tmp_path, CRASH_CHECK), plan, plugin)
    assert not report.passed and report.hint_number == 1 and report.hint_title == "the probe"
    message = report.assertions[0].message
    assert "plugin.py (yours) raised KeyError: 'ips' at line 6, in add" in message, message
    assert 'return answer["ips"]' in message
    assert "pycni" not in message and "Traceback" not in message
    assert report.own_files == [str(plugin)] and report.reference_files == []
    calls = [r for r in Journal(plan.journal) if r["container_id"] and r["exit"] != 0]
    assert calls[-1]["plugin"] == "plugin.py (yours)"
    assert not any(ns.startswith(f"{plan.prefix}-ex99-") for ns in list_netns())


@pytest.mark.root
@pytest.mark.parametrize("own_add", [False, True], ids=["reference-add", "students-add"])
def test_a_check_that_fails_leaves_only_what_it_keeps(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_add: bool
) -> None:
    out = tmp_path / "seen.json"
    monkeypatch.setenv("CHECKER_TEST_OUT", str(out))
    workspace = Workspace(tmp_path / "work")
    add = get_exercise("add")
    if own_add:
        workspace.start(add)
        shutil.copy(add.solution, workspace.file_for(add))
    plugin = tmp_path / "plugin.py"
    plugin.write_text("# this step's own file is not run by the probe\n")
    progress: list[tuple[str, bool | None]] = []
    report = run_check(
        exercise(tmp_path, CLEANUP_CHECK),
        plan,
        plugin,
        workspace=workspace,
        progress=lambda a: progress.append((a.name, a.passed)),
    )
    name = "a throwaway lab, folders and pods"
    assert progress == [(name, None), (name, False)]
    assert "inside the throwaway lab" in report.assertions[0].message
    seen = json.loads(out.read_text())
    expected = str(workspace.file_for(add)) if own_add else str(add.solution)
    assert expected in (report.own_files if own_add else report.reference_files)
    left = set(list_netns())
    assert not any(ns.startswith(seen["lab"]) for ns in left)
    assert seen["pod"] not in left and seen["main"] not in left
    assert report.kept == [seen["kept"]] and plan.pod_netns(seen["kept"]) in left
    assert not Path(seen["tempdir"]).exists() and not Path(seen["mkdtemp"]).exists()
    assert Path(seen["mkdtemp"]).is_relative_to(plan.state_dir)  # not /tmp
    assert list(Path(plan.state_dir, "scratch").glob("*")) == []
    # the next run clears what the previous one kept
    again = run_check(exercise(tmp_path / "again", CRASH_CHECK), plan, plugin)
    assert plan.pod_netns(seen["kept"]) not in set(list_netns())
    silent = again.assertions[0].message  # a file that prints nothing at all
    assert "plugin.py (yours) ADD printed nothing" in silent and "pycni" not in silent

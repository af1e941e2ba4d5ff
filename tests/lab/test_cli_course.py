"""What the course asks a student to type: `cnilab cni ... --plugin FILE` on their own
file, and `cnilab exercise list|start|hint` by number or slug, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.exercises.catalog import get_exercise
from lab.runtime.journal import Journal
from tests.conftest import RunningLab

CNILAB = str(Path(sys.executable).parent / "cnilab")
PLUGIN = """import sys
from lab.cni.skel import main
class Plugin:
    def add(self, args):
        print("a stray print goes to stderr")
        return {}["ips"]
sys.exit(main(Plugin()))
"""


def run(state: str, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CNILAB_STATE_DIR": state, "CNILAB_WORKSPACE": str(work)}
    return subprocess.run([CNILAB, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.root
def test_cni_runs_the_students_own_file_and_names_it(lab: RunningLab, tmp_path: Path) -> None:
    state, work = lab.plan.state_dir, tmp_path / "work"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    version = run(state, work, "cni", "VERSION", "--plugin", str(plugin))
    assert version.returncode == 0, version.stderr
    assert "# running plugin.py (yours) in" in version.stdout
    assert '"supportedVersions"' in version.stdout and "CNI_COMMAND=VERSION" in version.stdout
    netns = lab.plan.pod_netns("by-hand")
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        add = run(state, work, "cni", "ADD", "--plugin", str(plugin), "--netns", netns)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    assert add.returncode == 1
    assert f"CNI_NETNS=/run/netns/{netns}" in add.stdout and '"code": 999' in add.stdout
    assert "KeyError" in add.stdout and 'return {}["ips"]' in add.stdout  # stderr shown
    last = list(Journal(lab.plan.journal))[-1]
    assert last["plugin"] == "plugin.py (yours)" and last["command"] == "ADD"


@pytest.mark.root
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--plugin", "/nonexistent/plugin.py"), "does not exist"),
        (("--plugin", "/etc/hostname"), "must be a Python file"),
        (("--plugin", "PLUGIN", "--type", "bridge"), "not both"),
        (("--plugin", "PLUGIN", "--netns", "../../etc"), "neither a namespace name"),
    ],
)
def test_cni_refuses_bad_input_clearly(
    lab: RunningLab, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    argv = [str(plugin) if a == "PLUGIN" else a for a in args]
    proc = run(lab.plan.state_dir, tmp_path / "work", "cni", "ADD", *argv)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_exercise_list_start_and_hint_by_number_or_slug(tmp_path: Path) -> None:
    state, work = str(tmp_path / "no-lab"), tmp_path / "work"
    listing = json.loads(run(state, work, "exercise", "list", "--json").stdout)
    add = get_exercise("add")
    row = next(r for r in listing if r["slug"] == "add")
    assert row == {
        "number": add.number,
        "slug": "add",
        "title": add.title,
        "passed": False,
        "current": False,
    }
    ipam = get_exercise("ipam")
    assert run(state, work, "exercise", "start", "ipam").returncode == 0
    started = run(state, work, "exercise", "start", str(add.number))
    assert started.returncode == 0, started.stderr
    assert f"your own files from earlier steps: {work / ipam.folder.name / ipam.file}" in (
        started.stdout
    )
    assert "earlier steps taken from the reference: 1-tour" in started.stdout
    assert (work / add.folder.name / add.file).read_text() == add.starter.read_text()
    first = run(state, work, "exercise", "hint", "add")
    assert first.returncode == 0 and "(Concept 1 of 3)" in first.stdout
    second = run(state, work, "exercise", "hint", "add")
    assert "(Where in the API 2 of 3)" in second.stdout
    progress = json.loads((work / "progress.json").read_text())
    assert progress["current"] == "add" and progress["hints"]["add"] == {"1": 2}
    bad = run(state, work, "exercise", "hint", "no-such-step")
    assert bad.returncode == 2 and "there is no exercise" in bad.stderr
    assert run(state, work, "exercise", "hint", "add", "--hint", "99").returncode == 2

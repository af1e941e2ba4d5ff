"""The workspace is opened the careful way: root never follows a link planted in it,
never reads a huge file or blocks on a FIFO, and never writes through a link."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lab.exercises.catalog import get_exercise
from lab.exercises.workspace import MAX_FILE, Workspace, WorkspaceError

EX = "add"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "shadow"
    path.write_text("root:$6$secret\n")
    return path


def test_a_new_workspace_is_private(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "work")
    ws.start(get_exercise(EX))
    assert stat.S_IMODE((tmp_path / "work").stat().st_mode) == 0o700


def test_the_students_file_round_trips(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "work")
    ex = get_exercise(EX)
    assert ws.read(ex) is None
    path, copied = ws.start(ex)
    assert copied and ws.read(ex) == ex.starter.read_text()
    assert ws.start(ex) == (path, False)


def test_a_planted_link_to_a_file_is_not_read(tmp_path: Path, secret: Path) -> None:
    ws = Workspace(tmp_path / "work")
    ex = get_exercise(EX)
    ws.file_for(ex).parent.mkdir(parents=True)
    ws.file_for(ex).symlink_to(secret)
    with pytest.raises(WorkspaceError, match="symbolic link"):
        ws.read(ex)


def test_a_planted_link_to_a_folder_is_not_followed(tmp_path: Path, secret: Path) -> None:
    ws = Workspace(tmp_path / "work")
    ex = get_exercise(EX)
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / ex.file).symlink_to(secret)
    ws.file_for(ex).parent.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(WorkspaceError, match="not a folder"):
        ws.read(ex)
    with pytest.raises(WorkspaceError):
        ws.start(ex)
    assert secret.read_text() == "root:$6$secret\n"


def test_start_never_writes_through_a_link(tmp_path: Path, secret: Path) -> None:
    ws = Workspace(tmp_path / "work")
    ex = get_exercise(EX)
    ws.file_for(ex).parent.mkdir(parents=True)
    ws.file_for(ex).symlink_to(secret)
    _, copied = ws.start(ex)
    assert not copied and secret.read_text() == "root:$6$secret\n"


def test_progress_is_not_written_through_a_link(tmp_path: Path, secret: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "progress.json").symlink_to(secret)
    ws = Workspace(tmp_path / "work")
    ws.record_pass(get_exercise(EX))
    assert secret.read_text() == "root:$6$secret\n"
    assert not (tmp_path / "work" / "progress.json").is_symlink()


def test_a_huge_file_or_a_fifo_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "work")
    ex = get_exercise(EX)
    ws.file_for(ex).parent.mkdir(parents=True)
    ws.file_for(ex).write_bytes(b"#" * (MAX_FILE + 1))
    with pytest.raises(WorkspaceError, match="larger"):
        ws.read(ex)
    ws.file_for(ex).unlink()
    os.mkfifo(ws.file_for(ex))
    with pytest.raises(WorkspaceError, match="not a regular file"):
        ws.read(ex)


def test_odd_progress_is_read_as_none(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "progress.json").write_text('{"passed": [1], "hints": {"5": "x"}}')
    ws = Workspace(tmp_path / "work")
    assert ws.progress()["passed"] == {}
    assert ws.rungs_shown(get_exercise(EX)) == {}


def test_a_workspace_from_before_the_renumbering_carries_over(tmp_path: Path) -> None:
    """05-add/ and progress keyed by the old numbers (5 was ADD, 9 DEL/CHECK)."""
    work = tmp_path / "work"
    (work / "05-add").mkdir(parents=True)
    (work / "05-add" / "plugin.py").write_text("# my ADD\n")
    (work / "09-del-check").mkdir()
    (work / "progress.json").write_text(
        json.dumps({"current": 5, "passed": {"4": 1700000000, "5": 1700000001}, "hints": {"5": 2}})
    )
    ws = Workspace(work)
    add = get_exercise("add")
    assert add.number != 5  # the point of the test
    assert ws.read(add) == "# my ADD\n"
    assert ws.file_for(add) == work / add.folder.name / "plugin.py"
    assert not (work / "05-add").exists()
    progress = ws.progress()
    assert progress["current"] == "add"
    assert set(progress["passed"]) == {"ipam", "add"}
    assert ws.rungs_shown(add) == {1: 1, 2: 1}
    ws.record_pass(get_exercise("tour"))  # written back in the new shape
    data = json.loads((work / "progress.json").read_text())
    assert data["version"] == 2 and set(data["passed"]) == {"ipam", "add", "tour"}
    ws.file_for(get_exercise("del-check"))
    assert (work / get_exercise("del-check").folder.name).is_dir()


def test_an_old_folder_that_is_a_link_is_not_carried_over(tmp_path: Path, secret: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (work / "05-add").symlink_to(tmp_path / "elsewhere")
    ws = Workspace(work)
    add = get_exercise("add")
    assert ws.read(add) is None
    assert (work / "05-add").is_symlink() and not (work / add.folder.name).exists()


def test_hints_are_climbed_one_rung_at_a_time_from_the_last_failure(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "work")
    ex = get_exercise(EX)
    assert len(ex.hints) >= 2 and all(len(h.rungs) == 3 for h in ex.hints)
    assert ws.next_rung(ex) == (1, 1)  # nothing failed yet: the first hint
    ws.record_failure(ex, 2)
    assert ws.hint_to_climb(ex) == 2
    assert [ws.next_rung(ex) for _ in range(4)] == [(2, 1), (2, 2), (2, 3), (2, 3)]
    assert ws.rungs_shown(ex) == {1: 1, 2: 3}
    assert "#### Code" in ex.hints[1].shown(3) and "#### Code" not in ex.hints[1].shown(2)
    with pytest.raises(WorkspaceError, match="no hint 99"):
        ws.next_rung(ex, 99)
    ws.record_failure(ex, None)  # passed: back to the first hint
    assert ws.hint_to_climb(ex) == 1


def test_sources_say_which_earlier_files_are_the_students(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "work")
    ipam = get_exercise("ipam")
    ws.start(ipam)
    sources = {s["slug"]: s for s in ws.sources(get_exercise(EX))}
    assert sources["ipam"]["own"] and sources["ipam"]["path"] == str(ws.file_for(ipam))
    assert not sources["tour"]["own"]
    assert sources["tour"]["path"] == str(get_exercise("tour").solution)
    assert EX not in sources

"""The workspace is opened the careful way: root never follows a link planted in it,
never reads a huge file or blocks on a FIFO, and never writes through a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lab.exercises.catalog import get_exercise
from lab.exercises.workspace import MAX_FILE, Workspace, WorkspaceError

EX = 5


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
    assert ws.hints_shown(get_exercise(EX)) == 0

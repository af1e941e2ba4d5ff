"""The student's workspace: a copy of each starter to edit, and the progress made.

~/cnilab-work/ (or $CNILAB_WORKSPACE), owned by whoever runs cnilab (root), mode 0700
    05-add/plugin.py      copied from the starter by `cnilab exercise start 5`
    progress.json         {"current": 5, "passed": {"4": 1732270000.0}, "hints": {"5": 2}}

The lab runs as root, so the workspace is opened the careful way: every component
below the root is opened with O_NOFOLLOW relative to its parent's descriptor (a
symlink planted in the workspace is refused, not followed to /etc/shadow), files are
read up to MAX_FILE bytes, and a new file is created with O_EXCL.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lab.exercises.catalog import Exercise

DEFAULT = Path.home() / "cnilab-work"
MAX_FILE = 256 * 1024  # a student's plugin is a few KB; a lesson's answers file less
PROGRESS = "progress.json"
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # no FIFO hangs
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class WorkspaceError(OSError):
    """A workspace file that cannot be used safely (a symlink, too big, not a file)."""


def workspace_dir() -> Path:
    return Path(os.environ.get("CNILAB_WORKSPACE", str(DEFAULT)))


@contextlib.contextmanager
def _dir_fd(root: Path, parts: tuple[str, ...], create: bool) -> Iterator[int]:
    """A descriptor of root/parts..., each component opened without following links."""
    if create and not root.exists():
        root.mkdir(mode=0o700, parents=True)
        os.chmod(root, 0o700)  # whatever the umask: the student's code runs as root
    fd = os.open(root, DIR_FLAGS)
    try:
        for part in parts:
            if part in ("", ".", "..") or "/" in part:
                raise WorkspaceError(errno.EINVAL, f"not a workspace folder name: {part!r}")
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o700, dir_fd=fd)
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise WorkspaceError(e.errno, f"{root}: {part!r} is not a folder") from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _read(dir_fd: int, name: str, where: Path) -> str:
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise WorkspaceError(e.errno, f"{where} is a symbolic link: not followed") from None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise WorkspaceError(errno.EINVAL, f"{where} is not a regular file")
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise WorkspaceError(errno.EFBIG, f"{where} is larger than {MAX_FILE // 1024} KiB")
    return data.decode("utf-8", "replace")


def _write_new(dir_fd: int, name: str, data: bytes, exclusive: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


class Workspace:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or workspace_dir()

    def file_for(self, ex: Exercise) -> Path:
        return self.root / ex.folder.name / ex.file

    def read(self, ex: Exercise) -> str | None:
        """The student's file for `ex`, or None if they have not started it."""
        try:
            with _dir_fd(self.root, (ex.folder.name,), create=False) as fd:
                return _read(fd, ex.file, self.file_for(ex))
        except FileNotFoundError:
            return None

    def start(self, ex: Exercise) -> tuple[Path, bool]:
        """Copy the starter (never over the student's work); returns (path, copied)."""
        with _dir_fd(self.root, (ex.folder.name,), create=True) as fd:
            try:
                _write_new(fd, ex.file, ex.starter.read_bytes(), exclusive=True)
                copied = True
            except FileExistsError:
                copied = False
        self._update(lambda p: p.__setitem__("current", ex.number))
        return self.file_for(ex), copied

    def progress(self) -> dict[str, Any]:
        try:
            with _dir_fd(self.root, (), create=False) as fd:
                data = json.loads(_read(fd, PROGRESS, self.root / PROGRESS))
        except (FileNotFoundError, WorkspaceError, ValueError):  # none yet, or not usable
            data = {}
        if not isinstance(data, dict):
            data = {}
        for key, empty in (("current", None), ("passed", {}), ("hints", {})):
            if not isinstance(data.get(key, empty), type(empty)) and empty is not None:
                data[key] = empty
            data.setdefault(key, empty)
        return data

    def record_pass(self, ex: Exercise) -> None:
        self._update(lambda p: p["passed"].setdefault(str(ex.number), round(time.time())))

    def hints_shown(self, ex: Exercise) -> int:
        shown = self.progress()["hints"].get(str(ex.number), 0)
        return shown if isinstance(shown, int) and 0 <= shown <= len(ex.hints) else 0

    def unlock_hint(self, ex: Exercise) -> int:
        """Show one more hint (up to all of them); returns how many are unlocked."""
        shown = min(self.hints_shown(ex) + 1, len(ex.hints))
        self._update(lambda p: p["hints"].__setitem__(str(ex.number), shown))
        return shown

    def _update(self, change: Callable[[dict[str, Any]], Any]) -> None:
        data = self.progress()
        change(data)
        tmp = f".{PROGRESS}.{os.getpid()}.tmp"
        with _dir_fd(self.root, (), create=True) as fd:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            _write_new(fd, tmp, json.dumps(data, indent=2).encode(), exclusive=True)
            os.replace(tmp, PROGRESS, src_dir_fd=fd, dst_dir_fd=fd)

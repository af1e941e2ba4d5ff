"""The student's workspace: a copy of each starter to edit, and the progress made.

~/cnilab-work/ (or $CNILAB_WORKSPACE), owned by whoever runs cnilab (root), mode 0700
    06-add/plugin.py      copied from the starter by `cnilab exercise start add`
    progress.json         {"version": 2, "current": "add", "passed": {"ipam": 1732270000},
                           "hints": {"add": {"2": 1}}, "failed": {"add": 2}}

Progress is keyed by slug, which survives renumbering: "hints" holds how many rungs
of each hint were shown, "failed" the hint of the assertion that failed last. A
workspace from before (folders and progress under the old numbers, e.g. 05-add) is
carried over: progress without a version is read through OLD_SLUGS, and a step's
folder found under another number is renamed to its new one.

The lab runs as root, so the workspace is opened the careful way: every component
below the root is opened with O_NOFOLLOW relative to its parent's descriptor (a
symlink planted in the workspace is refused, not followed to /etc/shadow), files are
read up to MAX_FILE bytes, and a new file is created with O_EXCL.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lab.exercises.catalog import Exercise, all_exercises

DEFAULT = Path.home() / "cnilab-work"
MAX_FILE = 256 * 1024  # a student's plugin is a few KB; a lesson's answers file less
PROGRESS = "progress.json"
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # no FIFO hangs
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
VERSION = 2
# The steps' numbers before the course was reworked (issue 15), for progress.json v1.
OLD_SLUGS = {
    1: "tour",
    2: "skeleton",
    3: "by-hand",
    4: "ipam",
    5: "add",
    6: "same-node",
    7: "cross-node",
    8: "egress",
    9: "del-check",
    10: "chaining",
    11: "cni-1-1",
}


class WorkspaceError(OSError):
    """A workspace file that cannot be used safely (a symlink, too big, not a file)."""


class StaleVersion(WorkspaceError):
    """The file changed on disk since the editor loaded it: not overwritten."""


PASSED = ".passed"  # PASSED/06-add/plugin.py: the student's file as it last passed


def version(text: str | None) -> str | None:
    """What an editor sends back to say which file it changed: a hash of its text."""
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


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


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _is_real_dir(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _write_new(dir_fd: int, name: str, data: bytes, exclusive: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _replace(dir_fd: int, name: str, data: bytes) -> None:
    """Write a new file beside `name`, then rename it over: no reader sees half a file."""
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"  # threads of one process too
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dir_fd)
    _write_new(dir_fd, tmp, data, exclusive=True)
    os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _migrated(data: dict[str, Any]) -> dict[str, Any]:
    """Progress of version 1 (keyed by the old numbers) in version 2's shape."""

    def slug(key: object) -> str | None:
        text = str(key)
        return OLD_SLUGS.get(int(text)) if text.isdigit() else None

    passed = data.get("passed") if isinstance(data.get("passed"), dict) else {}
    hints = data.get("hints") if isinstance(data.get("hints"), dict) else {}
    new_hints: dict[str, dict[str, int]] = {}
    for key, shown in hints.items():
        if slug(key) and isinstance(shown, int) and 0 < shown <= 20:
            new_hints[slug(key)] = {str(n): 1 for n in range(1, shown + 1)}  # type: ignore[index]
    return {
        "version": VERSION,
        "current": slug(data.get("current")),
        "passed": {slug(k): v for k, v in passed.items() if slug(k)},
        "hints": new_hints,
        "failed": {},
    }


def _clean(data: object) -> dict[str, Any]:
    """Progress as this version reads it; anything odd reads as nothing done."""
    if not isinstance(data, dict):
        data = {}
    if data.get("version") != VERSION:
        data = _migrated(data)
    current = data.get("current")
    passed = data.get("passed") if isinstance(data.get("passed"), dict) else {}
    hints = data.get("hints") if isinstance(data.get("hints"), dict) else {}
    failed = data.get("failed") if isinstance(data.get("failed"), dict) else {}
    return {
        "version": VERSION,
        "current": current if isinstance(current, str) else None,
        "passed": {k: v for k, v in passed.items() if isinstance(v, int | float)},
        "hints": {
            k: {n: r for n, r in v.items() if n.isdigit() and isinstance(r, int) and r > 0}
            for k, v in hints.items()
            if isinstance(v, dict)
        },
        "failed": {k: v for k, v in failed.items() if isinstance(v, int) and v > 0},
    }


class Workspace:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or workspace_dir()

    def file_for(self, ex: Exercise) -> Path:
        self._carry_over(ex)
        return self.root / ex.folder.name / ex.file

    def _carry_over(self, ex: Exercise) -> None:
        """A step's folder made under its old number (05-add) is renamed to the new one
        (06-add), if the new one does not exist; links are never followed or moved."""
        pattern = re.compile(rf"^\d{{2}}-{re.escape(ex.slug)}$")
        try:
            with _dir_fd(self.root, (), create=False) as fd:
                if _exists(fd, ex.folder.name):
                    return
                for name in sorted(os.listdir(fd)):
                    if pattern.match(name) and _is_real_dir(fd, name):
                        os.rename(name, ex.folder.name, src_dir_fd=fd, dst_dir_fd=fd)
                        return
        except OSError:  # no workspace yet, or not ours to change: use it as it is
            return

    def read(self, ex: Exercise) -> str | None:
        """The student's file for `ex`, or None if they have not started it."""
        self._carry_over(ex)
        try:
            with _dir_fd(self.root, (ex.folder.name,), create=False) as fd:
                return _read(fd, ex.file, self.file_for(ex))
        except FileNotFoundError:
            return None

    def start(self, ex: Exercise) -> tuple[Path, bool]:
        """Copy the starter (never over the student's work); returns (path, copied)."""
        self._carry_over(ex)
        with _dir_fd(self.root, (ex.folder.name,), create=True) as fd:
            try:
                _write_new(fd, ex.file, ex.starter.read_bytes(), exclusive=True)
                copied = True
            except FileExistsError:
                copied = False
        self._update(lambda p: p.__setitem__("current", ex.slug))
        return self.file_for(ex), copied

    def write(self, ex: Exercise, text: str, expected: str | None) -> str:
        """Replace the student's file if it is still the version the editor loaded
        (`expected`; None: it must not exist yet); returns the new version. The file
        is replaced whole (a link in its place is replaced, never followed)."""
        data = text.encode()
        if len(data) > MAX_FILE:
            raise WorkspaceError(errno.EFBIG, f"larger than {MAX_FILE // 1024} KiB")
        where = self.file_for(ex)
        with _dir_fd(self.root, (ex.folder.name,), create=True) as fd:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two saves at once: the second sees the first
            try:
                current = _read(fd, ex.file, where)
            except FileNotFoundError:
                current = None
            if version(current) != expected:
                raise StaleVersion(errno.ESTALE, f"{where} changed on disk since you opened it")
            _replace(fd, ex.file, data)
        return version(text) or ""

    def keep_passed(self, ex: Exercise, text: str) -> None:
        """Keep `text` as the version of the student's file that last passed."""
        with _dir_fd(self.root, (PASSED, ex.folder.name), create=True) as fd:
            _replace(fd, ex.file, text.encode())

    def passed_text(self, ex: Exercise) -> str | None:
        try:
            with _dir_fd(self.root, (PASSED, ex.folder.name), create=False) as fd:
                return _read(fd, ex.file, self.root / PASSED / ex.folder.name / ex.file)
        except FileNotFoundError:
            return None

    def progress(self) -> dict[str, Any]:
        try:
            with _dir_fd(self.root, (), create=False) as fd:
                data = json.loads(_read(fd, PROGRESS, self.root / PROGRESS))
        except (FileNotFoundError, WorkspaceError, ValueError):  # none yet, or not usable
            data = {}
        return _clean(data)

    def passed(self, ex: Exercise) -> bool:
        return ex.slug in self.progress()["passed"]

    def record_pass(self, ex: Exercise) -> None:
        self._update(lambda p: p["passed"].setdefault(ex.slug, round(time.time())))

    def record_check(
        self, ex: Exercise, passed: bool, hint: int | None, checked: str | None
    ) -> None:
        """The outcome of checking the student's file, whose text was `checked`: a pass is
        recorded with that text (kept for the "last pass" diff, if the file still holds
        it), a failure with the hint it points to."""
        if passed:
            self.record_pass(ex)
            if checked is not None and self.read(ex) == checked:
                self.keep_passed(ex, checked)
        self.record_failure(ex, None if passed else hint)

    def record_failure(self, ex: Exercise, hint: int | None) -> None:
        """The hint of the assertion that failed: `hint` without a number climbs it."""

        def change(p: dict[str, Any]) -> None:
            if hint:
                p["failed"][ex.slug] = hint
            else:
                p["failed"].pop(ex.slug, None)

        self._update(change)

    def rungs_shown(self, ex: Exercise) -> dict[int, int]:
        """Hint number -> how many of its rungs the student has asked for."""
        shown = self.progress()["hints"].get(ex.slug, {})
        out = {}
        for number, rungs in shown.items():
            hint = ex.hint(int(number))
            if hint is not None:
                out[hint.number] = min(rungs, len(hint.rungs))
        return out

    def hint_to_climb(self, ex: Exercise) -> int:
        """The hint of the assertion that failed last, else the first."""
        failed = self.progress()["failed"].get(ex.slug)
        return failed if failed and ex.hint(failed) is not None else 1

    def next_rung(self, ex: Exercise, number: int | None = None) -> tuple[int, int]:
        """Show one more rung of hint `number` (default: hint_to_climb); returns
        (hint number, rungs now shown)."""
        number = number or self.hint_to_climb(ex)
        hint = ex.hint(number)
        if hint is None:
            raise WorkspaceError(errno.EINVAL, f"step {ex.number} has no hint {number}")
        shown = min(self.rungs_shown(ex).get(number, 0) + 1, len(hint.rungs))
        self._update(lambda p: p["hints"].setdefault(ex.slug, {}).__setitem__(str(number), shown))
        return number, shown

    def own_files(self, exercises: list[Exercise] | None = None) -> dict[str, Path]:
        """slug -> the student's file, for every step they have one of."""
        found = {}
        for ex in exercises if exercises is not None else all_exercises():
            try:
                if self.read(ex) is not None:
                    found[ex.slug] = self.file_for(ex)
            except OSError:
                continue
        return found

    def sources(self, ex: Exercise) -> list[dict[str, Any]]:
        """What step `ex` builds on: each earlier step's file, the student's own or the
        reference solution (a checkpoint lets a student begin at any step)."""
        earlier = [e for e in all_exercises() if e.number < ex.number]
        own = self.own_files(earlier)
        return [
            {
                "number": e.number,
                "slug": e.slug,
                "own": e.slug in own,
                "path": str(own.get(e.slug, e.solution)),
            }
            for e in earlier
        ]

    def _update(self, change: Callable[[dict[str, Any]], Any]) -> None:
        data = self.progress()
        change(data)
        tmp = f".{PROGRESS}.{os.getpid()}.tmp"
        with _dir_fd(self.root, (), create=True) as fd:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            _write_new(fd, tmp, json.dumps(data, indent=2).encode(), exclusive=True)
            os.replace(tmp, PROGRESS, src_dir_fd=fd, dst_dir_fd=fd)

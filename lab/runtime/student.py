"""Running a student's plugin file in place of pycni.

The runtime finds plugins by type in CNI_PATH, so a student's file gets a bin dir of
its own, holding an executable named like the type the node's config asks for
(`pycni`), put first in CNI_PATH. It runs the file with cnilab's interpreter, so
the student can build on `lab.cni`.

A concurrency check sets CNILAB_BARRIER to a file it holds locked: every call
starts, imports, then waits there, so all of them reach the student's code at
once and a missing lock shows up every time, not by luck.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from lab.cluster.plan import Plan
from lab.pycni.launcher import import_paths

TYPE = "pycni"
EXERCISES = Path(__file__).resolve().parent.parent.parent / "exercises"
WRAPPER = """#!{python} -IS
# Written by cnilab: runs a student's plugin as the `{type}` CNI plugin.
import os
import runpy
import sys
sys.path[:0] = {paths!r}
sys.argv[0] = {file!r}
if os.environ.get("CNILAB_BARRIER"):  # checks line up concurrent calls (see below)
    import fcntl
    import lab.cni.skel  # noqa: F401
    with open(os.environ["CNILAB_BARRIER"]) as barrier:
        fcntl.flock(barrier, fcntl.LOCK_SH)
import logging  # skel logs a crash's traceback here: keep it on stderr for the check
_crash = logging.StreamHandler(sys.stderr)
_crash.setFormatter(logging.Formatter("%(message)s"))
logging.getLogger("cni.skel").addHandler(_crash)
runpy.run_path({file!r}, run_name="__main__")
"""
LABEL = "label"  # beside the wrapper: how the journal and checks name the file


class StudentPluginError(ValueError):
    pass


def student_bin_dir(plan: Plan, plugin_file: str, plugin_type: str = TYPE) -> Path:
    """A bin dir where `plugin_type` runs the student's file (pycni, or an IPAM's type)."""
    path = Path(plugin_file).resolve()
    if not path.is_file():
        raise StudentPluginError(f"plugin file {plugin_file!r} does not exist")
    if path.suffix != ".py":
        raise StudentPluginError(f"plugin file {plugin_file!r} must be a Python file (.py)")
    digest = hashlib.sha256(f"{path}:{plugin_type}".encode()).hexdigest()[:12]
    folder = Path(plan.exec_dir) / "student" / digest
    folder.mkdir(parents=True, exist_ok=True)
    text = WRAPPER.format(
        python=sys.executable, type=plugin_type, paths=import_paths(), file=str(path)
    )
    fd, tmp = tempfile.mkstemp(dir=folder)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, folder / plugin_type)
    label = folder / LABEL
    if not label.exists():
        label.write_text(plugin_label(path))
    return folder


def plugin_label(file: str | Path) -> str:
    """`plugin.py (yours)`, or `06-add/solution.py (reference)` for a step's own file."""
    path = Path(file).resolve()
    if path.is_relative_to(EXERCISES):
        return f"{path.parent.name}/{path.name} (reference)"
    return f"{path.name} (yours)"


def label_of(executable: str) -> str | None:
    """The label of a student's wrapper (None for any other plugin)."""
    folder = Path(executable).parent
    if folder.parent.name != "student":
        return None
    try:
        return (folder / LABEL).read_text()[:200] or None
    except OSError:
        return None

"""Write the small executables a runtime finds in its CNI bin dir.

A console script made by pip runs `site`, and an editable install adds an import
hook there: about 20 ms before our first line, on every CNI call. The launcher
starts Python isolated and without `site` (`-IS`: a shebang passes one argument),
and puts exactly the folders cnilab needs on sys.path itself. It also works with
the empty environment a runtime may give a plugin.
"""

from __future__ import annotations

import os
import site
import sys
import tempfile
from pathlib import Path

import lab

EXECUTABLES = {"pycni": "lab.pycni.entry", "pycni-ipam": "lab.pycni.ipam.entry"}

TEMPLATE = """#!{python} -IS
# Written by cnilab: runs {module}.main() with the interpreter cnilab was installed with.
import sys
sys.path[:0] = {paths!r}
from {module} import main
main()
"""


def import_paths() -> list[str]:
    """The folder holding the `lab` package, then the site-packages of this interpreter."""
    paths = [str(Path(lab.__file__).resolve().parent.parent), *site.getsitepackages()]
    return list(dict.fromkeys(paths))


def write_launcher(bin_dir: Path, name: str) -> Path:
    """Write atomically (a runtime may be executing the old one right now)."""
    text = TEMPLATE.format(python=sys.executable, module=EXECUTABLES[name], paths=import_paths())
    bin_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=bin_dir, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, bin_dir / name)
    except BaseException:
        os.unlink(tmp)
        raise
    return bin_dir / name


def write_launchers(bin_dir: Path) -> list[Path]:
    return [write_launcher(bin_dir, name) for name in EXECUTABLES]

"""`cnilab install`: put pycni where a node's runtime looks for plugins and configs.

A runtime (containerd, CRI-O, kubelet's dockershim, podman with CNI) finds plugin
executables in a bin dir (/opt/cni/bin) and picks the first config of its conf dir
(/etc/cni/net.d). Both are shared with other network add-ons, so we write every file
atomically (a runtime may read it at any moment), mark it as ours, and refuse to
overwrite or remove a file someone else wrote unless told to (--force).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.cluster.conflists import pycni_conflist
from lab.cluster.node_setup import BRIDGE
from lab.cluster.plan import CONF_FILE, NETWORK_NAME
from lab.pycni.launcher import EXECUTABLES, write_launchers

BIN_DIR = Path("/opt/cni/bin")
CONF_DIR = Path("/etc/cni/net.d")
DATA_DIR = "/var/lib/cni/networks"  # host-local's default, so pods' IPs survive a reinstall
LOG_FILE = "/var/log/cnilab/pycni.log"
# containerd 1.6/1.7 and CRI-O ship libcni releases that predate spec 1.1.0; pycni
# answers every version, so the config asks for the newest one they all read.
CNI_VERSION = "1.0.0"
MARK_KEY = "cnilab"
MARK = "written by `cnilab install`; `cnilab install --uninstall` removes it"
LAUNCHER_MARK = "# Written by cnilab"
CONF_EXTENSIONS = (".conflist", ".conf", ".json")


class InstallError(RuntimeError):
    """A clear, user-facing failure (a file that is not ours, a folder we cannot write)."""


@dataclass(frozen=True)
class InstallSpec:
    bin_dir: Path
    conf_dir: Path
    pod_cidr: str = ""
    data_dir: str = DATA_DIR
    log_file: str = LOG_FILE
    bridge: str = BRIDGE
    cni_version: str = CNI_VERSION
    conf_name: str = CONF_FILE

    @property
    def conf_path(self) -> Path:
        return self.conf_dir / self.conf_name

    def launchers(self) -> list[Path]:
        return [self.bin_dir / name for name in EXECUTABLES]


def conflist(spec: InstallSpec) -> dict[str, Any]:
    """The node's network, marked as ours (runtimes ignore keys they do not know)."""
    conf = pycni_conflist(
        NETWORK_NAME,
        spec.bridge,
        spec.pod_cidr,
        spec.data_dir,
        spec.log_file,
        cni_version=spec.cni_version,
    )
    return {**conf, MARK_KEY: MARK}


def is_our_conf(path: Path) -> bool:
    try:
        return json.loads(path.read_bytes()).get(MARK_KEY) == MARK
    except (OSError, ValueError, AttributeError):
        return False


def is_our_launcher(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return LAUNCHER_MARK.encode() in f.read(4096)
    except OSError:
        return False


def conflicts(spec: InstallSpec) -> list[Path]:
    """Files in our way that someone else wrote."""
    theirs = [p for p in spec.launchers() if p.exists() and not is_our_launcher(p)]
    if spec.conf_path.exists() and not is_our_conf(spec.conf_path):
        theirs.append(spec.conf_path)
    return theirs


def shadowing(spec: InstallSpec) -> list[Path]:
    """Configs a runtime would pick before ours (it takes the first, by name)."""
    if not spec.conf_dir.is_dir():
        return []
    return sorted(
        p
        for p in spec.conf_dir.iterdir()
        if p.suffix in CONF_EXTENSIONS and p.name < spec.conf_name and not is_our_conf(p)
    )


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Temp file in the same folder, then rename: a reader sees the old file or the new.

    The temp name starts with a dot and has no config extension, so a runtime
    watching the conf dir never loads a half-written file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def install(spec: InstallSpec, force: bool = False) -> list[Path]:
    """Write the launchers and the conflist; all or nothing when a file is not ours."""
    theirs = conflicts(spec)
    if theirs and not force:
        names = ", ".join(str(p) for p in theirs)
        raise InstallError(f"not written by cnilab: {names}; pass --force to replace")
    try:
        spec.bin_dir.mkdir(parents=True, exist_ok=True)
        spec.conf_dir.mkdir(parents=True, exist_ok=True)
        written = write_launchers(spec.bin_dir)
        write_atomically(spec.conf_path, json.dumps(conflist(spec), indent=2) + "\n")
    except OSError as e:
        raise InstallError(f"cannot write {e.filename or 'a file'}: {e.strerror}") from None
    return [*written, spec.conf_path]


def uninstall(spec: InstallSpec) -> tuple[list[Path], list[Path]]:
    """Remove what we wrote; return (removed, left alone because someone else wrote it)."""
    removed, kept = [], []
    checks = [(p, is_our_launcher) for p in spec.launchers()]
    checks.append((spec.conf_path, is_our_conf))
    for path, ours in checks:
        if not path.exists():
            continue
        if not ours(path):
            kept.append(path)
            continue
        try:
            path.unlink()
        except OSError as e:
            raise InstallError(f"cannot remove {path}: {e.strerror}") from None
        removed.append(path)
    return removed, kept

"""The VMs' package source, the one stub of the test: the image's .debs as a flat apt
repository, a pip wheelhouse for the project, and npm's cache for static/'s lockfile, all
in one folder that an HTTP server in the test's namespace serves (provision.sh's
--package-source)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

from vms.image import Image, ImageError, run

PROJECT = Path(__file__).resolve().parent.parent
# pip upgrades itself and builds the editable install in an isolated env from these
BUILD_TOOLS = ("pip", "setuptools>=68", "wheel")


def project_requirements(project: Path = PROJECT) -> list[str]:
    data = tomllib.loads((project / "pyproject.toml").read_text())
    return [*data["build-system"]["requires"], *data["project"]["dependencies"]]


def source_key(image: Image, project: Path = PROJECT) -> str:
    digest = hashlib.sha256(image.folder.name.encode())
    for name in ("pyproject.toml", "static/package-lock.json"):
        path = project / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:12]


def _wheelhouse(folder: Path) -> None:
    run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
         "--dest", str(folder), *BUILD_TOOLS, *project_requirements()],
        "pip download (the wheelhouse)",
    )  # fmt: skip


def _npm_cache(tarball: Path, project: Path = PROJECT) -> None:
    lock = project / "static/package-lock.json"
    with tempfile.TemporaryDirectory(prefix="cnilab-npm-") as tmp:
        work, cache = Path(tmp, "static"), Path(tmp, "cache")
        work.mkdir()
        shutil.copy2(project / "static/package.json", work)
        shutil.copy2(lock, work)
        run(
            ["npm", "ci", "--prefix", str(work), "--cache", str(cache), "--ignore-scripts",
             "--no-audit", "--no-fund", "--loglevel=error"],
            "npm ci (the npm cache)",
        )  # fmt: skip
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(cache, arcname=".")


def ensure_source(image: Image, cache: Path) -> Path:
    """The folder to serve: debian/ (the image's .debs), wheels/, npm-cache.tar.gz."""
    folder = cache / f"source-{source_key(image)}"
    if (folder / "ready").is_file():
        return folder
    work = cache / f"{folder.name}.building"
    shutil.rmtree(work, ignore_errors=True)  # only files of ours, never a mount
    work.mkdir(parents=True)
    try:
        (work / "debian").symlink_to(image.debs)
        (work / "wheels").mkdir()
        _wheelhouse(work / "wheels")
        if (PROJECT / "static/package-lock.json").is_file():
            _npm_cache(work / "npm-cache.tar.gz")
        (work / "ready").write_text("")
    except (ImageError, OSError, subprocess.SubprocessError):
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    return folder

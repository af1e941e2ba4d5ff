"""A flat apt repository (`deb [trusted=yes] URL ./`) from a folder of .debs, so the VMs'
apt-get update and install run for real against the host instead of the internet."""

from __future__ import annotations

import hashlib
import subprocess
from email.utils import formatdate
from pathlib import Path


def write_flat_repo(folder: Path, suite: str) -> None:
    """Packages (by dpkg-scanpackages) and a Release listing its checksums."""
    scan = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", "."],
        cwd=folder,
        capture_output=True,
        check=True,
    )
    packages = scan.stdout
    (folder / "Packages").write_bytes(packages)
    size = len(packages)
    release = [
        "Origin: cnilab-vms",
        "Label: cnilab-vms",
        f"Suite: {suite}",
        f"Codename: {suite}",
        f"Date: {formatdate(usegmt=True)}",
        "Architectures: amd64 all",
        "MD5Sum:",
        f" {hashlib.md5(packages).hexdigest()} {size} Packages",  # apt's Release format
        "SHA256:",
        f" {hashlib.sha256(packages).hexdigest()} {size} Packages",
    ]
    (folder / "Release").write_text("\n".join(release) + "\n")

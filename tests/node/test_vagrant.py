"""The Vagrant lab, checked as far as this machine can: the Vagrantfile and the scripts.

No VM runs here (no VirtualBox, no nested virtualisation), so `vagrant up` is not
tried; `vagrant validate` parses the Vagrantfile and checks every machine's config,
and shellcheck lints the provisioning script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "vagrant").glob("*.sh"))


def vagrant(tmp_path: Path, *args: str, provider: str = "") -> subprocess.CompletedProcess[str]:
    """Run vagrant with its home and machine state in tmp (it writes both)."""
    env = {
        **os.environ,
        "VAGRANT_HOME": str(tmp_path / "home"),
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),
        "VAGRANT_CHECKPOINT_DISABLE": "1",
    }
    if provider:
        env["VAGRANT_DEFAULT_PROVIDER"] = provider
    return subprocess.run(
        ["vagrant", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="apt-get install shellcheck")
def test_provisioning_scripts_pass_shellcheck() -> None:
    assert SCRIPTS, "vagrant/*.sh"
    proc = subprocess.run(
        ["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(not shutil.which("vagrant"), reason="apt-get install vagrant")
def test_vagrantfile_validates(tmp_path: Path) -> None:
    proc = vagrant(tmp_path, "validate", "--ignore-provider")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated successfully" in proc.stdout


@pytest.mark.skipif(not shutil.which("vagrant"), reason="apt-get install vagrant")
def test_vagrantfile_validates_with_the_libvirt_provider(tmp_path: Path) -> None:
    """Provider settings too: vagrant-libvirt checks its block (VirtualBox is not in Debian)."""
    plugins = vagrant(tmp_path, "plugin", "list").stdout
    if "vagrant-libvirt" not in plugins:
        pytest.skip("apt-get install vagrant-libvirt")
    proc = vagrant(tmp_path, "validate", provider="libvirt")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_units_name_the_files_the_provisioning_installs() -> None:
    """Every unit the script enables exists, and runs the venv's cnilab or the installed pycni."""
    script = (ROOT / "vagrant" / "provision.sh").read_text()
    units = sorted((ROOT / "vagrant" / "systemd").glob("*.service"))
    assert {u.name for u in units} == {
        "cnilab-node.service",
        "pycni-daemon.service",
        "cnilab-agent.service",
        "cnilab-web.service",
    }
    for unit in units:
        assert unit.name in script
        text = unit.read_text()
        assert "ExecStart=/opt/cnilab/venv/bin/cnilab " in text or "/opt/cni/bin/pycni" in text

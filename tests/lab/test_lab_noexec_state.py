"""A state dir on a noexec filesystem (/run on Debian and Ubuntu, the default's home):
the lab's plugins and the student's wrappers go where they can run, and `down` removes
them. Found on the Vagrant VMs: the check lab inside node1 could not exec its pycni."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.cluster.plan import EXEC_FALLBACK

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[2]


def test_plugins_of_a_lab_on_a_noexec_state_dir_run_and_are_removed(tmp_path: Path) -> None:
    mount = tmp_path / "run"
    mount.mkdir()
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import sys\nprint('student VERSION ok')\nsys.exit(0)\n")
    argv = [sys.executable, "-m", "tests.lab.noexec_probe", str(mount), str(plugin)]
    probe = subprocess.run(
        ["unshare", "--mount", "--", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout.splitlines()[-1])
    assert seen["denied"], "the mount is not noexec: this test proves nothing"
    assert seen["exec_dir"].startswith(f"{EXEC_FALLBACK}/"), seen
    assert '"cniVersion"' in seen["version"] and "supportedVersions" in seen["version"], seen
    assert seen["student_rc"] == 0 and "student VERSION ok" in seen["student"], seen
    assert not seen["left"], seen

"""vagrant/provision.sh, run end to end in a namespace standing in for node1's VM.

apt-get, pip, npm and systemctl are stubs that log their arguments; every system file
goes under a tmp root (`--root`). The rest is real: `cnilab node init` makes the
namespace a node, `cnilab install` writes the plugin, the units and env files land
where systemd would read them. A second run changes nothing, and cnilab-node.service's
command line, expanded the way systemd expands it, is the same idempotent init.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.node.conftest import CNILAB, Host, assert_same_state

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[2]
STUB = '#!/bin/sh\necho "$(basename "$0") $*" >> "$STUB_LOG"\n'


@pytest.fixture
def staged(tmp_path: Path) -> dict[str, Path]:
    stubs, venv = tmp_path / "stubs", tmp_path / "opt" / "cnilab" / "venv" / "bin"
    stubs.mkdir()
    venv.mkdir(parents=True)
    for name in ("apt-get", "npm", "systemctl"):
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(0o755)
    (venv / "pip").write_text(STUB)
    (venv / "pip").chmod(0o755)
    (venv / "python").symlink_to(sys.executable)
    (venv / "cnilab").symlink_to(CNILAB)
    return {"stubs": stubs, "prefix": venv.parent.parent, "root": tmp_path / "root"}


def provision(host: Host, peer: Host, staged: dict[str, Path]) -> str:
    argv = ["bash", str(ROOT / "vagrant" / "provision.sh"), "--name", "node1", "--web"]
    argv += ["--node-ip", host.ip, "--pod-cidr", host.pod_cidr]
    argv += ["--peer", f"{peer.pod_cidr}={peer.ip}", "--src", str(ROOT)]
    argv += ["--prefix", str(staged["prefix"]), "--root", str(staged["root"])]
    env = {
        **os.environ,
        "PATH": f"{staged['stubs']}:{os.environ['PATH']}",
        "STUB_LOG": str(staged["root"].parent / "stubs.log"),
    }
    proc = subprocess.run(
        ["nsenter", f"--net={host.path}", "--", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def systemd_argv(unit: Path, env_file: Path) -> list[str]:
    """ExecStart as systemd expands it: ${X} is one word, $X splits on whitespace."""
    env = {}
    for line in env_file.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value.strip('"')
    exec_start = next(ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart="))
    words: list[str] = []
    for word in exec_start.removeprefix("ExecStart=").split():
        if m := re.fullmatch(r"\$\{(\w+)\}", word):
            words.append(env[m[1]])
        elif m := re.fullmatch(r"\$(\w+)", word):
            words += shlex.split(env[m[1]])
        else:
            words.append(word)
    return words


def test_provisioning_makes_a_node_twice_the_same_and_undo_restores_it(
    hosts: tuple[Host, Host], staged: dict[str, Path]
) -> None:
    h1, h2 = hosts
    root = staged["root"]
    pristine = h1.snapshot()
    out = provision(h1, h2, staged)
    assert "web app: http://127.0.0.1:8080/?token=" in out
    node = h1.snapshot()
    assert f"{h2.pod_cidr} via {h2.ip} dev eth1" in node["routes"]  # type: ignore[operator]

    log = (root.parent / "stubs.log").read_text()
    assert "containernetworking-plugins" in log and "nodejs npm" in log
    assert f"pip install -q -e {ROOT}" in log and "npm ci" in log
    units = "cnilab-node.service pycni-agent.service cnilab-agent.service cnilab-web.service"
    assert f"systemctl enable -q {units}" in log and f"systemctl restart {units}" in log
    installed = sorted(p.name for p in (root / "etc" / "systemd" / "system").iterdir())
    assert installed == sorted(units.split())
    for path in (
        "opt/cni/bin/pycni",
        "etc/cni/net.d/10-pycni.conflist",
        "var/lib/cnilab/node.json",
    ):
        assert (root / path).is_file(), path
    assert (root / "usr/local/bin/cnilab").resolve() == Path(CNILAB).resolve()
    env_file = root / "etc" / "cnilab" / "node.env"
    assert f'CNILAB_PEER_ARGS="--peer {h2.pod_cidr}={h2.ip}"' in env_file.read_text()
    web_env = root / "etc" / "cnilab" / "web.env"
    assert web_env.stat().st_mode & 0o777 == 0o600
    token = web_env.read_text()

    assert "web app" in provision(h1, h2, staged)  # `vagrant provision` again
    assert_same_state(h1.snapshot(), node)
    assert web_env.read_text() == token

    # What cnilab-node.service runs at boot is the same init: nothing changes.
    unit = ROOT / "vagrant" / "systemd" / "cnilab-node.service"
    argv = systemd_argv(unit, env_file)
    assert argv[:3] == ["/opt/cnilab/venv/bin/cnilab", "node", "init"]
    env = {**os.environ, "CNILAB_NODE_STATE": str(root / "var/lib/cnilab/node.json")}
    subprocess.run(["nsenter", f"--net={h1.path}", "--", CNILAB, *argv[1:]], env=env, check=True)
    assert_same_state(h1.snapshot(), node)

    subprocess.run(
        ["nsenter", f"--net={h1.path}", "--", CNILAB, "node", "init", "--undo"],
        env=env,
        check=True,
        capture_output=True,
    )
    assert_same_state(h1.snapshot(), pristine)

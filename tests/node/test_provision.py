"""vagrant/provision.sh, run end to end in a namespace standing in for node1's VM.

apt-get, pip, npm and systemctl are stubs that log their arguments; every system file
goes under a tmp root (`--root`). The rest is real: `cnilab node init` makes the
namespace a node, `cnilab install` writes the plugin, the units and env files land
where systemd would read them. A second run changes nothing, and cnilab-node.service's
command line, expanded the way systemd expands it, is the same idempotent init.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
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


def provision(host: Host, peer: Host, staged: dict[str, Path], *extra: str) -> str:
    argv = ["bash", str(ROOT / "vagrant" / "provision.sh"), "--name", "node1", "--web", *extra]
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
    units = "cnilab-node.service pycni-daemon.service cnilab-agent.service cnilab-web.service"
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

    pin = check_agent_files(root, {"node1": h1.ip})

    # `vagrant provision` again, as the Vagrantfile runs it: the certificate it made for
    # this node (here: a copy of the one made above), every node's address and pin
    made = uploaded_copy(root / "var/lib/cnilab/agent", root.parent / "upload")
    other = "ab" * 32
    again = ["--agent-cert", str(made / "agent.crt"), "--agent-key", str(made / "agent.key")]
    again += ["--agent", f"node1={h1.ip}={pin}", "--agent", f"node2={h2.ip}={other}"]
    assert "web app" in provision(h1, h2, staged, *again)
    assert_same_state(h1.snapshot(), node)
    assert web_env.read_text() == token
    assert check_agent_files(root, {"node1": h1.ip, "node2": h2.ip}) == pin
    assert (root / "etc/cnilab/agent-node2.fingerprint").read_text().strip() == other
    agent_argv = systemd_argv(ROOT / "vagrant" / "systemd" / "cnilab-agent.service", env_file)
    assert "--cert-dir" in agent_argv and "--token-file" in agent_argv
    networks = [agent_argv[i + 1] for i, w in enumerate(agent_argv) if w == "--lab-network"]
    assert {"10.244.0.0/16", f"{h1.ip}/32", f"{h2.ip}/32"} == set(networks)

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


def uploaded_copy(cert_dir: Path, to: Path) -> Path:
    """What the Vagrantfile uploads: a certificate and its key, made elsewhere."""
    to.mkdir(mode=0o700)
    for name in ("agent.crt", "agent.key"):
        shutil.copy2(cert_dir / name, to / name)
    return to


def check_agent_files(root: Path, nodes: dict[str, str]) -> str:
    """The agent's certificate is private and the app's agents file pins it; its pin."""
    from lab.agent.cert import ensure_cert
    from lab.agent.client import agent_refs

    cert_dir = root / "var/lib/cnilab/agent"
    assert cert_dir.stat().st_mode & 0o777 == 0o700
    assert (cert_dir / "agent.key").stat().st_mode & 0o777 == 0o600
    pin = ensure_cert(cert_dir, "node1").fingerprint
    listed = json.loads((root / "etc/cnilab/agents.json").read_text())
    for item in listed:  # the app reads them at /etc/cnilab; here under the tmp root
        for key in ("token_file", "fingerprint_file"):
            item[key] = str(root) + item[key]
    refs = agent_refs(listed)
    assert [(r.name, r.url) for r in refs] == [(n, f"https://{ip}:8081") for n, ip in nodes.items()]
    assert refs[0].fingerprint == pin and refs[0].token
    return pin

"""The `cnilab` command as a student types it, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
CNILAB = str(Path(sys.executable).parent / "cnilab")


def run(state: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CNILAB_STATE_DIR": str(state)}
    proc = subprocess.run([CNILAB, *args], capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_a_session_from_up_to_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    prefix = f"pc{uuid.uuid4().hex[:6]}"
    assert run(state, "status", check=False).returncode == 3
    try:
        assert "lab up in" in run(state, "up", "--prefix", prefix).stdout
        status = json.loads(run(state, "status", "--json").stdout)
        assert [n["pod_cidr"] for n in status["nodes"]] == ["10.244.0.0/24", "10.244.1.0/24"]
        assert all(n["daemon"] for n in status["nodes"])

        assert "10.244.0.2/24" in run(state, "pod", "add", "web", "--node", "node1").stdout
        run(state, "pod", "add", "db", "--node", "node2")
        ping = run(state, "exec", "web", "--", "ping", "-c1", "-W2", "10.244.1.2").stdout
        assert "ttl=62" in ping
        assert "default via 10.244.0.1" in run(state, "exec", "web", "--", "ip", "route").stdout
        listed = json.loads(run(state, "pod", "list", "--json").stdout)
        assert sorted(p["name"] for p in listed) == ["db", "web"]
        assert "CHECK passed" in run(state, "pod", "check", "web").stdout

        calls = run(state, "calls", "-v").stdout
        assert "CNI_COMMAND=ADD" in calls and "K8S_POD_NAME=web" in calls

        bad = run(state, "pod", "add", "web", check=False)
        assert bad.returncode == 1 and "already has eth0" in bad.stderr
        assert "Traceback" not in bad.stderr
        bad = run(state, "pod", "add", "x", "--node", "node9", check=False)
        assert "unknown node" in bad.stderr

        subprocess.run(["ip", "netns", "add", f"{prefix}-byhand"], check=True)
        by_hand = run(state, "cni", "ADD", "--netns", f"{prefix}-byhand", "--node", "node2").stdout
        assert "CNI_NETNS=/run/netns/" in by_hand and '"type": "pycni"' in by_hand
        assert "# exit 0" in by_hand and "10.244.1.3/24" in by_hand
        assert '"supportedVersions"' in run(state, "cni", "VERSION").stdout

        run(state, "pod", "del", "web")
        assert "web" not in run(state, "pod", "list").stdout
    finally:
        out = run(state, "down").stdout
    assert "removed" in out
    assert run(state, "down").stdout.strip() == "no lab is up"
    assert not [ns for ns in os.listdir("/run/netns") if ns.startswith(prefix)]


def test_demo_mode_pauses_between_steps(tmp_path: Path) -> None:
    state = tmp_path / "state"
    prefix = f"pd{uuid.uuid4().hex[:6]}"
    try:
        run(state, "up", "--prefix", prefix)
        shown = run(state, "pod", "add", "slow", "--demo", "0.2").stdout
        assert "bridge-ready" in shown and "veth-created" in shown  # steps echoed live
        (rec,) = json.loads(run(state, "calls", "--json", "--limit", "1").stdout)
        demo = json.loads(rec["stdin"])["runtimeConfig"]["demo"]
        assert demo["delay"] == 0.2 and demo["manual"] is False
        assert demo["events"].endswith("/events.sock")  # the runtime's channel, gone now
        assert not os.path.exists(demo["events"])
        assert rec["ms"] > 6 * 200  # six steps, each followed by a pause
        log = (state / "nodes" / "node1" / "pycni.log").read_text()
        steps = [line.split("step ")[1].split()[0] for line in log.splitlines() if " step " in line]
        assert steps == [
            "bridge-ready",
            "ip-reserved",
            "veth-created",
            "veth-attached",
            "pod-addressed",
            "gateway-ready",
        ]
    finally:
        run(state, "down")

"""`cnilab up --bare`: the lab leaves the node's bridge, routes or masquerade to the
student's code, says so in its plan, and a check's throwaway lab is removed by `down`."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from lab.cluster import build
from lab.cluster.plan import Plan, PlanError, make_plan, parse_bare
from lab.kernel.netns import list_netns


def test_bare_pieces_are_parsed_and_kept_in_the_plan(tmp_path: Path) -> None:
    assert parse_bare("bridge, routes") == {"bridge", "routes"}
    assert parse_bare("all") == {"bridge", "routes", "masquerade"}
    assert parse_bare("") == parse_bare("none") == frozenset()
    for bad in ("bridges", "bridge,cni0", "../x"):
        with pytest.raises(PlanError, match="unknown piece"):
            parse_bare(bad)
    plan = make_plan(2, prefix="pxbare", state_dir=tmp_path, bare="masquerade")
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.bare == {"masquerade"}
    old = json.loads(plan.to_json())
    del old["bare"]  # a plan written before --bare existed
    assert Plan.from_json(json.dumps(old)).bare == frozenset()


def _sh(netns: str, *argv: str) -> str:
    argv = ("nsenter", f"--net=/run/netns/{netns}", "--", *argv)
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def _pieces(plan: Plan, node_index: int) -> dict[str, bool]:
    node = plan.nodes[node_index]
    routes = json.loads(_sh(node.netns, "ip", "-j", "route") or "[]")
    peers = {n.pod_cidr for n in plan.nodes if n is not node}
    return {
        "bridge": f"inet {node.gateway}/24" in _sh(node.netns, "ip", "addr", "show", "cni0"),
        "forwarding": _sh(node.netns, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "1",
        "routes": peers <= {r["dst"] for r in routes},
        "masquerade": "masquerade" in _sh(node.netns, "nft", "list", "ruleset"),
    }


@pytest.mark.root
def test_a_scratch_lab_leaves_out_what_it_is_told_and_goes_with_its_parent(
    tmp_path: Path,
) -> None:
    parent = make_plan(1, prefix=f"px{uuid.uuid4().hex[:6]}", state_dir=tmp_path / "state")
    Path(parent.state_dir).mkdir(parents=True)
    bare = build.up_scratch(parent, 3, frozenset({"bridge", "routes"}))
    full = build.up_scratch(parent, 2, frozenset({"masquerade"}))
    try:
        assert bare.bare == {"bridge", "routes"} and len(bare.nodes) == 3
        assert bare.underlay_netns != full.underlay_netns  # each has its own underlay
        for i in range(3):
            assert _pieces(bare, i) == {
                "bridge": False,
                "forwarding": False,
                "routes": False,
                "masquerade": True,
            }
        assert _pieces(full, 1) == {
            "bridge": True,
            "forwarding": True,
            "routes": True,
            "masquerade": False,
        }
        assert Path(bare.state_dir).is_relative_to(parent.state_dir)
        build.down_scratch(parent, full)  # the way a check ends
        assert not any(ns.startswith(f"{full.prefix}-") for ns in list_netns())
    finally:
        removed = build.down(parent)  # the way `cnilab down` ends an interrupted check
    assert set(bare.namespaces()) <= set(removed)
    left = [ns for ns in list_netns() if ns.startswith((f"{bare.prefix}-", f"{full.prefix}-"))]
    assert left == [] and not Path(parent.state_dir).exists()


@pytest.mark.root
def test_cli_up_bare_is_shown_by_status_and_a_bad_piece_makes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"

    def cnilab(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [".venv/bin/cnilab", "--state-dir", str(state), *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    bad = cnilab("up", "--nodes", "1", "--prefix", "pxbad", "--bare", "bridge,wifi")
    assert bad.returncode == 2 and "unknown piece" in bad.stderr and "Traceback" not in bad.stderr
    assert not state.exists() and not any(ns.startswith("pxbad-") for ns in list_netns())
    prefix = f"px{uuid.uuid4().hex[:6]}"
    assert cnilab("up", "--nodes", "1", "--prefix", prefix, "--bare", "all").returncode == 0
    try:
        status = json.loads(cnilab("status", "--json").stdout)
        assert status["bare"] == ["bridge", "masquerade", "routes"]
        assert "left to your code on every node: bridge" in cnilab("status").stdout
    finally:
        cnilab("down")

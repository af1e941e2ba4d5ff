"""Step 5 (bridge): the student's node set-up, run in a throwaway lab; the check
rejects the set-ups students really write wrong, each at the assertion about it."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from lab.cluster import build
from lab.cluster.plan import Plan, make_plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.kernel.netns import list_netns
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("bridge")

MUTANTS = [
    mutant(
        "the seed's gateway: the first three octets and .1",
        'f"{net.network_address + 1}/{net.prefixlen}"',
        'pod_cidr.rsplit(".", 1)[0] + "." + "1/" + str(net.prefixlen)',
        "follows the pod CIDR",
    ),
    mutant(
        "the pod network's /16 on cni0",
        "prefixlen=gateway.network.prefixlen,",
        "prefixlen=16,",
        "with the pod CIDR's prefix",
    ),
    mutant(
        "flush and add again",
        "        if stale != gateway:\n",
        "        if True:\n",
        "second run changes nothing",
        ("    if gateway not in held:\n", "    if True:\n"),
    ),
    mutant(
        "forwarding forgotten",
        "    enable_forwarding()\n",
        "",
        "forwarding",
    ),
    mutant(
        "the bridge left down",
        '        ipr.link("set", index=index, state="up")\n',
        "",
        "a bridge, and up",
    ),
    mutant(
        "stale addresses kept",
        "        if stale != gateway:\n",
        "        if False:\n",
        "left wrong is fixed",
    ),
    mutant(
        "the bridge made again on every run",
        '    try:\n        ipr.link("add", ifname=BRIDGE, kind="bridge")',
        '    for old in ipr.link_lookup(ifname=BRIDGE):\n        ipr.link("del", index=old)\n'
        '    try:\n        ipr.link("add", ifname=BRIDGE, kind="bridge")',
        "second run changes nothing",
    ),
    mutant(
        "a host address taken as the pod CIDR",
        "net = ipaddress.IPv4Network(pod_cidr)",
        "net = ipaddress.IPv4Interface(pod_cidr).network",
        "host address is refused",
    ),
]


def _scratch_leftovers() -> list[str]:
    return [ns for ns in list_netns() if ns.startswith("sx")]


def test_the_starter_fails_at_its_first_todo(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "runs on a bare node" in failed[0].name and "NotImplementedError" in failed[0].message
    assert "line" in failed[0].message  # the line of the student's file that raised


def test_the_solution_passes_and_the_scratch_lab_goes(plan: Plan) -> None:
    before = set(_scratch_leftovers())
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert set(_scratch_leftovers()) <= before
    assert not [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex05-")]


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_node_setup_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_a_lab_left_bare_gets_the_students_bridge(tmp_path: Path) -> None:
    """With `cnilab up --bare bridge`, a pass leaves the student's cni0 on every node."""
    bare = build.up(
        make_plan(2, prefix=f"pb{uuid.uuid4().hex[:6]}", state_dir=tmp_path, bare="bridge")
    )
    try:
        report = run_check(EX, bare, EX.solution)
        assert report.passed, [a for a in report.assertions if not a.passed]
        assert "your lab's nodes" in report.assertions[-1].name
        for node in bare.nodes:
            shown = subprocess.run(
                ["nsenter", f"--net={node.netns_path}", "--", "ip", "-j", "addr", "show", "cni0"],
                capture_output=True,
                text=True,
                check=True,
            )
            held = [
                (a["local"], a["prefixlen"])
                for a in json.loads(shown.stdout)[0]["addr_info"]
                if a["family"] == "inet"
            ]
            assert held == [(node.gateway, 24)]
    finally:
        build.down(bare)

"""Step 9 (egress): the check rejects the masquerade chains students really get
wrong, each at the assertion about its mistake, on a throwaway 3-node lab."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from lab.cluster import build
from lab.cluster.build import scratch_plans
from lab.cluster.plan import Plan, make_plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.kernel.netns import list_netns
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("egress")
EXCEPTIONS = '    lines += [f"add rule {chain} ip daddr {net} return" for net in nets]\n'

MUTANTS = [
    mutant(
        "no exception: everything leaving the node is masqueraded",
        EXCEPTIONS,
        "",
        "pod to pod across nodes",
    ),
    mutant(
        "the pod network hard-coded",
        EXCEPTIONS,
        '    lines.append(f"add rule {chain} ip daddr 10.244.0.0/16 return")\n',
        "node3 leaves",
    ),
    mutant(
        "only this node's own CIDR is excepted",
        EXCEPTIONS,
        '    lines.append(f"add rule {chain} ip daddr {nets[0]} return")\n',
        "pod to pod across nodes",
    ),
    mutant(
        "rules appended on every run, never flushed",
        'f"flush chain {chain}",  # this chain only',
        "# no flush:",
        "second run",
    ),
    mutant(
        "the whole ruleset flushed to start clean",
        'f"flush chain {chain}",',
        '"flush ruleset", f"add table ip {TABLE}", f"add chain {chain} '
        '{{ type nat hook postrouting priority srcnat; policy accept; }}",',
        "another table",
    ),
    mutant(
        "the chain on the prerouting hook",
        "type nat hook postrouting priority srcnat",
        "type nat hook prerouting priority dstnat",
        "runs on every node",
    ),
    mutant(
        "a host address quietly made a network",
        "ipaddress.IPv4Network(cidr)",
        "ipaddress.IPv4Network(cidr, strict=False)",
        "is refused",
    ),
]


def _leftovers(plan: Plan) -> list[str]:
    mine = [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex09-")]
    return mine + [p.prefix for p in scratch_plans(plan)]


def test_the_starter_fails_at_its_first_run(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "runs on every node" in failed[0].name and failed[0].hint == 1
    assert "NotImplementedError" in failed[0].message
    assert _leftovers(plan) == []


def test_the_solution_passes_and_leaves_the_lab_alone(plan: Plan) -> None:
    before = [_nat_rules(n.netns) for n in plan.nodes]
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert _leftovers(plan) == []
    assert [_nat_rules(n.netns) for n in plan.nodes] == before


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_chain_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_a_rewritten_pod_address_is_shown_with_the_chain(plan: Plan, tmp_path: Path) -> None:
    report = run_check(EX, plan, write_mutant(tmp_path, EX, MUTANTS[0]))
    failed = next(a for a in report.assertions if a.passed is False)
    assert "come from 192.168.56." in failed.message and "masquerade" in failed.message


def _nat_rules(netns: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "list", "table", "ip", "cnilab"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def test_a_bare_lab_keeps_the_chain_of_a_passing_check(tmp_path: Path) -> None:
    """`cnilab up --bare masquerade`: the student's chain stays on the lab's nodes."""
    plan = make_plan(2, prefix=f"pb{uuid.uuid4().hex[:6]}", state_dir=tmp_path, bare="masquerade")
    bare = build.up(plan)
    try:
        assert [_nat_rules(n.netns) for n in bare.nodes] == ["", ""]
        report = run_check(EX, bare, EX.solution)
        assert report.passed, [a for a in report.assertions if not a.passed]
        for node in bare.nodes:
            rules = _nat_rules(node.netns)
            returns = [line.strip() for line in rules.splitlines() if "return" in line]
            assert returns == [f"ip daddr {n.pod_cidr} return" for n in bare.nodes]
            assert "masquerade" in rules
    finally:
        build.down(bare)

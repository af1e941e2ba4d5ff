"""Step 8 (cross-node): the check rejects the route reconcilers students really get
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
EX = get_exercise("cross-node")

MUTANTS = [
    mutant(
        "only the first peer is routed",
        "            wanted[cidr] = via\n",
        "            wanted[cidr] = via\n            break\n",
        "node3 joins",
    ),
    mutant(
        "its own pod CIDR routed via itself",
        '        if node["name"] != me:\n            wanted[cidr] = via\n',
        "        wanted[cidr] = via\n",
        "node1 and the pod on node2 ping",
    ),
    mutant(
        "add, not replace: the second run meets File exists",
        'ipr.route("replace", dst=str(cidr)',
        'ipr.route("add", dst=str(cidr)',
        "node3 joins",
    ),
    mutant(
        "routes made without the mark: the next run never finds them",
        ", gateway=str(via), proto=ROUTE_PROTOCOL)",
        ", gateway=str(via))",
        "node2 leaves",
    ),
    mutant(
        "departed nodes are never removed",
        "        for cidr in routes_of_ours(ipr).keys() - wanted.keys():  # departed nodes\n"
        '            ipr.route("del", dst=str(cidr), proto=ROUTE_PROTOCOL)\n',
        "",
        "node2 leaves",
    ),
    mutant(
        "every route via a gateway but the default is taken for its own",
        'if route["proto"] != ROUTE_PROTOCOL or route.get("table") != MAIN_TABLE:',
        'if not (route.get("dst") and route.get("gateway")) or route.get("table") != MAIN_TABLE:',
        "did not make",
        (
            'ipr.route("del", dst=str(cidr), proto=ROUTE_PROTOCOL)',
            'ipr.route("del", dst=str(cidr))',
        ),
    ),
    mutant(
        "the via of the node itself, not of its peer",
        '        via = ipaddress.IPv4Address(node["address"])\n',
        "        via = ipaddress.IPv4Address(\n"
        '            next(n for n in nodes if n["name"] == me)["address"]\n'
        "        )\n",
        "node1 and the pod on node2 ping",
    ),
    mutant(
        "a host address quietly made a network",
        'ipaddress.IPv4Network(node["pod_cidr"])',
        'ipaddress.IPv4Network(node["pod_cidr"], strict=False)',
        "is refused",
    ),
]

VIA_ITSELF = next(m for m in MUTANTS if m.name.startswith("the via of the node itself"))


def _leftovers(plan: Plan) -> list[str]:
    mine = [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex08-")]
    return mine + [p.prefix for p in scratch_plans(plan)]


def test_the_starter_fails_at_its_first_run(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "runs on node1 and node2" in failed[0].name and failed[0].hint == 1
    assert "NotImplementedError" in failed[0].message
    assert _leftovers(plan) == []


def test_the_solution_passes_and_leaves_nothing(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert _leftovers(plan) == []
    routes = [r for n in plan.nodes for r in _proto_routes(n.netns)]
    assert routes == [], "a lab that is not bare gets no routes of the student's"


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_reconciler_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_a_lost_ping_shows_the_route_the_node_used(plan: Plan, tmp_path: Path) -> None:
    report = run_check(EX, plan, write_mutant(tmp_path, EX, VIA_ITSELF))
    failed = next(a for a in report.assertions if a.passed is False)
    assert "want via 192.168." in failed.message and "no reply" in failed.message


def _proto_routes(netns: str) -> list[str]:
    out = subprocess.run(
        ["ip", "-n", netns, "route", "show", "proto", "77"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def test_a_bare_lab_keeps_the_routes_of_a_passing_check(tmp_path: Path) -> None:
    """`cnilab up --bare routes`: the student's routes stay on the lab's nodes."""
    bare = build.up(
        make_plan(2, prefix=f"pb{uuid.uuid4().hex[:6]}", state_dir=tmp_path, bare="routes")
    )
    try:
        assert [_proto_routes(n.netns) for n in bare.nodes] == [[], []]
        report = run_check(EX, bare, EX.solution)
        assert report.passed, [a for a in report.assertions if not a.passed]
        n1, n2 = bare.nodes
        assert _proto_routes(n1.netns) == [f"{n2.pod_cidr} via {n2.underlay_ip} dev eth0 "]
        assert _proto_routes(n2.netns) == [f"{n1.pod_cidr} via {n1.underlay_ip} dev eth0 "]
    finally:
        build.down(bare)

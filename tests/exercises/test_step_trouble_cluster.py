"""Step 15 (trouble-cluster): every fault of the cluster catalogue is found and fixed by
the reference; a wrong diagnosis, a right one left unfixed and a fix that only hides
the symptom are each rejected at their assertion; starting again hides a fresh fault
and leaves nothing of the last one."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.exercises.faults import Target, faults_of
from lab.exercises.health import ScenePod, node_findings, sh, traffic_findings
from lab.exercises.trouble import clear_trouble, pod_prefix, read_record, start_trouble
from lab.runtime.pods import Runtime
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
STEP = "trouble-cluster"
EX = get_exercise(STEP)
REPLACE = '"replace", dst=str(net.network_address), dst_len=net.prefixlen, gateway=peer.underlay_ip'


def pick(fault: str, node: str = "node1") -> Callable[[list[Target]], Target]:
    return lambda targets: next(t for t in targets if t.fault == fault and t.node == node)


@pytest.fixture(autouse=True, scope="module")
def no_trouble_left(plan: Plan) -> Iterator[None]:
    yield
    clear_trouble(plan)


def scene(plan: Plan) -> list[ScenePod]:
    record = read_record(plan)
    assert record is not None
    return record.scene_pods()


def scene_left(plan: Plan) -> list[str]:
    return [p.name for p in Runtime(plan).list() if p.name.startswith(pod_prefix(STEP))]


@pytest.mark.parametrize("fault", [f.key for f in faults_of(STEP)])
def test_the_reference_finds_and_fixes_every_fault(plan: Plan, fault: str) -> None:
    target = start_trouble(plan, STEP, pick(fault, "node2"))
    assert target.fault == fault
    assert traffic_findings(plan, scene(plan)), f"{fault} leaves no symptom on the wire"
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert read_record(plan) is None and scene_left(plan) == []
    assert [p for n in plan.nodes for p in node_findings(plan, n)] == []


def test_the_starter_fails_at_the_diagnosis(plan: Plan) -> None:
    start_trouble(plan, STEP)
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert len(failed) == 1 and "gives a diagnosis" in failed[0].name and failed[0].hint
    assert len(scene_left(plan)) == 3


def test_a_cidr_is_compared_as_a_network_and_a_host_address_is_not_one(
    plan: Plan, tmp_path: Path
) -> None:
    target = start_trouble(plan, STEP, pick("route-missing"))
    file = tmp_path / EX.file
    file.write_text(f'FAULT = "{target.fault}"\nNODE = "node1"\nOBJECT = "10.244.1.5/24"\n')
    failed = [a for a in run_check(EX, plan, file).assertions if a.passed is False]
    assert len(failed) == 1 and failed[0].name == "the diagnosis: object"
    sh(plan.node("node1").netns, "ip", "route", "add", "10.244.1.0/24", "via", "192.168.56.12")
    file.write_text(f'FAULT = "{target.fault}"\nNODE = "Node1"\nOBJECT = " 10.244.1.0/24"\n')
    report = run_check(EX, plan, file)
    assert report.passed, [a for a in report.assertions if not a.passed]


MUTANTS: list[tuple[Callable[[list[Target]], Target], Mutant]] = [
    (
        pick("route-wrong-gateway"),
        mutant(
            "blames the peer whose pods cannot be reached",
            'answer("route-wrong-gateway", node.name, peer.pod_cidr)',
            'answer("route-wrong-gateway", peer.name, peer.pod_cidr)',
            "the diagnosis: node",
        ),
    ),
    (
        pick("route-stale-cidr", "node2"),
        mutant(
            "calls a stale route a missing one",
            '"route-stale-cidr" if stale_routes(lab.plan, routes) else "route-missing"',
            '"route-missing"',
            "the diagnosis: fault",
        ),
    ),
    (
        pick("forward-drop"),
        mutant(
            "a firewall's drop read as masquerade trouble",
            'return answer("forward-drop", node.name)',
            'return answer("masquerade-pods", node.name)',
            "the diagnosis: fault",
        ),
    ),
    (
        pick("masquerade-pods", "node2"),
        mutant(
            "the whole ruleset flushed",
            '[{"flush": {"chain": NAT}}, {"add": {"rule": masquerade_rule(lab.plan.pod_network)}}]',
            '[{"flush": {"ruleset": None}}]',
            "the symptom is gone",
        ),
    ),
    (
        pick("forward-drop", "node2"),
        mutant(
            "a right diagnosis, left unfixed",
            'lab.nft(node, [{"delete": {"rule": where}}])',
            "pass",
            "the symptom is gone",
        ),
    ),
    (
        pick("route-stale-cidr"),
        mutant(
            "the new route added, the stale one left",
            "        for stale in stale_routes(lab.plan, routes):\n",
            "        for stale in []:\n",
            "repaired, not patched",
        ),
    ),
    (
        pick("route-missing", "node2"),
        mutant(
            "one route for the whole pod network",
            REPLACE,
            '"replace", dst=str(net.network_address), dst_len=16, gateway=peer.underlay_ip',
            "repaired, not patched",
        ),
    ),
]


@pytest.mark.parametrize(("choose", "m"), MUTANTS, ids=[str(m) for _, m in MUTANTS])
def test_a_one_bug_troubleshooter_is_rejected(
    plan: Plan, tmp_path: Path, choose: Callable[[list[Target]], Target], m: Mutant
) -> None:
    start_trouble(plan, STEP, choose)
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def _pod_routes(plan: Plan, node: str) -> set[str]:
    out = sh(plan.node(node).netns, "ip", "-j", "route").stdout
    return {r["dst"] for r in json.loads(out or "[]") if r["dst"].startswith("10.244.")}


def test_starting_again_hides_a_fresh_fault_and_leaves_nothing_of_the_last(plan: Plan) -> None:
    first = start_trouble(plan, STEP, pick("route-stale-cidr"))
    stale = first.detail[1]
    assert stale in _pod_routes(plan, "node1")
    before = read_record(plan)
    ids = {p.name: p.container_id for p in Runtime(plan).list()}
    second = start_trouble(plan, STEP)  # at random, as `cnilab exercise start 15` does
    after = read_record(plan)
    assert before is not None and after is not None
    assert second.fault != first.fault and after.digests != before.digests
    now = {p.name: p.container_id for p in Runtime(plan).list()}
    assert sorted(now) == sorted(ids) and all(now[n] != ids[n] for n in ids)
    assert stale not in _pod_routes(plan, "node1")
    if second.fault != "route-missing" or second.node != "node1":
        assert "10.244.1.0/24" in _pod_routes(plan, "node1")

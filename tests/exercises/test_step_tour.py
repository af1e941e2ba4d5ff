"""Step 1 (tour): the answers are compared as values with the lab's kernel, and the
mistakes a student really makes are each refused at the question they are about."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("tour")

MUTANTS = [
    mutant(
        "the gateway with its prefix given as node1's pod CIDR",
        'node1_pod_cidr = "10.244.0.0/24"',
        'node1_pod_cidr = "10.244.0.1/24"',
        "node1_pod_cidr",
    ),
    mutant(
        "node1's slice given for node2",
        'node2_pod_cidr = "10.244.1.0/24"',
        'node2_pod_cidr = "10.244.0.0/24"',
        "node2_pod_cidr",
    ),
    mutant(
        "a node's slice given as the whole pod network",
        'pod_network = "10.244.0.0/16"',
        'pod_network = "10.244.0.0/24"',
        "pod_network",
    ),
    mutant(
        "the gateway written with its prefix length",
        'node1_gateway = "10.244.0.1"',
        'node1_gateway = "10.244.0.1/24"',
        "node1_gateway",
    ),
    mutant(
        "the next hop taken as node2's bridge, not node2",
        'route_to_node2_pods = "192.168.56.12"',
        'route_to_node2_pods = "10.244.1.1"',
        "route_to_node2_pods",
    ),
    mutant(
        "node2's underlay address for node1's",
        'node1_underlay_ip = "192.168.56.11"',
        'node1_underlay_ip = "192.168.56.12"',
        "node1_underlay_ip",
    ),
    mutant(
        "the masquerade source taken as the pod's gateway",
        'masquerade_source = "192.168.56.11"',
        'masquerade_source = "10.244.0.1"',
        "masquerade_source",
    ),
    mutant(
        "a misspelt key (the real one reads as empty)",
        "node1_gateway =",
        "node1_gw =",
        "known keys",
    ),
    mutant(
        "an answer written as a bare TOML value, not a string",
        'route_to_node2_pods = "192.168.56.12"',
        "route_to_node2_pods = 192",
        "route_to_node2_pods",
    ),
]


def test_check_fails_on_the_starter(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert failed[0].name == "node1_pod_cidr is right" and "empty" in failed[0].message


def test_check_passes_on_the_solution(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert len(report.assertions) == 9


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_variant_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_a_host_address_as_a_cidr_is_refused_with_its_reason(plan: Plan, tmp_path: Path) -> None:
    report = run_check(EX, plan, write_mutant(tmp_path, EX, MUTANTS[0]))
    failed = next(a for a in report.assertions if a.passed is False)
    assert "not a network" in failed.message and "10.244.0.0/24" in failed.message


def test_garbage_is_a_fail_not_a_traceback(plan: Plan, tmp_path: Path) -> None:
    bad = tmp_path / "answers.toml"
    bad.write_text('node1_pod_cidr = "10.244.0.0/24\n')
    report = run_check(EX, plan, bad)
    failed = [a for a in report.assertions if a.passed is False]
    assert len(failed) == 1 and "not valid TOML" in failed[0].message

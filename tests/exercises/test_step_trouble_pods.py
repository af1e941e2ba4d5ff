"""Step 10 (trouble-pods): every fault of the wiring catalogue is found and fixed by the
reference; a wrong diagnosis, a right one left unfixed and a fix that only hides the
symptom are each rejected at their assertion; starting again hides a fresh fault and
leaves nothing of the last one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.exercises.faults import MTUS, Target, faults_of
from lab.exercises.health import ScenePod, node_findings, sh, traffic_findings
from lab.exercises.trouble import clear_trouble, pod_prefix, read_record, start_trouble
from lab.runtime.pods import Runtime
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
STEP = "trouble-pods"
EX = get_exercise(STEP)


def pick(fault: str, where: Callable[[Target], bool] = lambda t: True) -> Callable[..., Target]:
    return lambda targets: next(t for t in targets if t.fault == fault and where(t))


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
    target = start_trouble(plan, STEP, pick(fault, lambda t: t.node == "node2"))
    assert target.fault == fault
    assert traffic_findings(plan, scene(plan)), f"{fault} leaves no symptom on the wire"
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert read_record(plan) is None and scene_left(plan) == []
    assert [p for n in plan.nodes for p in node_findings(plan, n)] == []


@pytest.mark.parametrize("mtu", MTUS)
def test_every_mtu_of_the_catalogue_drops_big_packets_only(plan: Plan, mtu: int) -> None:
    start_trouble(
        plan, STEP, lambda ts: Target("mtu-mismatch", "node1", pod_prefix(STEP) + "b", (mtu,))
    )
    problems = traffic_findings(plan, scene(plan))
    assert len(problems) == 1 and "2000-byte" in problems[0], problems


def test_the_starter_fails_at_the_diagnosis(plan: Plan) -> None:
    start_trouble(plan, STEP)
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert len(failed) == 1 and "gives a diagnosis" in failed[0].name and failed[0].hint
    assert "FAULT is still empty" in failed[0].message
    assert len(scene_left(plan)) == 3  # the fault stays for the student to find


def test_an_answers_file_with_the_right_values_passes_once_fixed_by_hand(
    plan: Plan, tmp_path: Path
) -> None:
    target = start_trouble(plan, STEP, pick("forwarding-off", lambda t: t.node == "node2"))
    sh(plan.node("node2").netns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    file = tmp_path / EX.file
    file.write_text(f'FAULT = "{target.fault}"\nNODE = "node2"\nOBJECT = ""\n')
    report = run_check(EX, plan, file)
    assert report.passed, [a for a in report.assertions if not a.passed]


def test_no_check_before_the_step_starts(plan: Plan) -> None:
    clear_trouble(plan)
    report = run_check(EX, plan, EX.solution)
    failed = [a for a in report.assertions if a.passed is False]
    assert len(failed) == 1 and "exercise start trouble-pods" in failed[0].message


MUTANTS: list[tuple[Callable[..., Target], Mutant]] = [
    (
        pick("veth-down"),
        mutant(
            "names the pod, not its host end",
            'answer("veth-down", node, end["ifname"])',
            'answer("veth-down", node, pod)',
            "the diagnosis: object",
        ),
    ),
    (
        pick("veth-detached"),
        mutant(
            "calls a detached veth down",
            'answer("veth-detached", node, end["ifname"])',
            'answer("veth-down", node, end["ifname"])',
            "the diagnosis: fault",
        ),
    ),
    (
        pick("forwarding-off", lambda t: t.node == "node2"),
        mutant(
            "blames the node whose pods call for help",
            'answer("forwarding-off", node)',
            'answer("forwarding-off", lab.nodes[0])',
            "the diagnosis: node",
        ),
    ),
    (
        pick("mtu-mismatch"),
        mutant(
            "a right diagnosis, left unfixed",
            'ipr.link("set", index=ipr.link_lookup(ifname="eth0")[0], mtu=mtu)',
            "pass",
            "the symptom is gone",
        ),
    ),
    (
        pick("pod-no-default-route"),
        mutant(
            "a route to the pod network instead of the default route",
            'ipr.route("add", dst="0.0.0.0", dst_len=0, gateway=gateway)',
            'ipr.route("add", dst="10.244.0.0", dst_len=16, gateway=gateway)',
            "the symptom is gone",
        ),
    ),
    (
        lambda targets: Target("mtu-mismatch", "node2", pod_prefix(STEP) + "c", (1280,)),
        mutant(
            "the host end lowered to the pod's MTU",
            "        with lab.iproute(obj) as ipr:\n"
            '            ipr.link("set", index=ipr.link_lookup(ifname="eth0")[0], mtu=mtu)',
            "        with lab.iproute(node) as ipr:\n"
            '            end = lab.host_end(obj)["ifname"]\n'
            '            mtu = lab.ip(obj, "link", "show", "eth0")[0]["mtu"]\n'
            '            ipr.link("set", index=ipr.link_lookup(ifname=end)[0], mtu=mtu)',
            "repaired, not patched",
        ),
    ),
]


@pytest.mark.parametrize(("choose", "m"), MUTANTS, ids=[str(m) for _, m in MUTANTS])
def test_a_one_bug_troubleshooter_is_rejected(
    plan: Plan, tmp_path: Path, choose: Callable[..., Target], m: Mutant
) -> None:
    start_trouble(plan, STEP, choose)
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_starting_again_hides_a_fresh_fault_and_leaves_nothing_of_the_last(plan: Plan) -> None:
    first = start_trouble(plan, STEP, pick("forwarding-off", lambda t: t.node == "node2"))
    before = read_record(plan)
    ids = {p.name: p.container_id for p in Runtime(plan).list()}
    second = start_trouble(plan, STEP)  # at random, as `cnilab exercise start 10` does
    after = read_record(plan)
    assert before is not None and after is not None
    assert second.fault != first.fault and after.digests != before.digests
    assert after.salt != before.salt
    now = {p.name: p.container_id for p in Runtime(plan).list()}
    assert sorted(now) == sorted(ids) and all(now[n] != ids[n] for n in ids)  # new pods
    for node in plan.nodes:  # the first fault is repaired on every node
        forward = sh(node.netns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()
        assert forward == "1", node.name

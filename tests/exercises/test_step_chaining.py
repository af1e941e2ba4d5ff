"""Step 12 (chaining): the check rejects the chained plugins students really get wrong,
each at the assertion about its mistake, and it leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.kernel.netns import list_netns
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("chaining")
SET_MTU = 'pod.link("set", index=link.index, mtu=mtu)'

MUTANTS = [
    mutant(
        "the MTU hard-coded as 1400", SET_MTU, SET_MTU.replace("mtu=mtu", "mtu=1400"), "on node1"
    ),
    mutant(
        "the MTU hard-coded as VXLAN's 1450",
        SET_MTU,
        SET_MTU.replace("mtu=mtu", "mtu=1450"),
        "node2",
    ),
    mutant(
        "a new result instead of prevResult",
        "        return prev\n",
        "        return Result()\n",
        "still pycni's",
    ),
    mutant("the result not amended", "        iface.mtu = mtu\n", "", "new MTU"),
    mutant(
        "eth0 whatever CNI_IFNAME says",
        "link = links.link_by_name(pod, args.ifname)",
        'link = links.link_by_name(pod, "eth0")',
        "eth1",
    ),
    mutant(
        "DEL puts the MTU back inside the pod",
        'when pycni deletes the veth."""\n',
        'when pycni deletes the veth."""\n'
        "        with iproute_in(args.netns) as (pod, _fd):\n"
        "            link = links.link_by_name(pod, args.ifname)\n"
        '            pod.link("set", index=link.index, mtu=1500)\n',
        "namespace is gone",
    ),
]


def _leftovers(plan: Plan) -> list[str]:
    netns = [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex12-")]
    confs = [p.name for n in plan.nodes for p in Path(n.conf_dir).glob("*ex12*")]
    held = [p.name for n in plan.nodes for p in Path(n.ipam_dir).rglob("10.24[45].*")]
    return netns + confs + held


def test_the_starter_fails_at_the_mtu(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "MTU" in failed[0].name and failed[0].hint == 2
    assert _leftovers(plan) == []


def test_the_solution_passes_and_leaves_nothing(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert _leftovers(plan) == []


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_chained_plugin_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)
    assert _leftovers(plan) == []

"""Step 7 (same-node): the check rejects plugins that are fine for one pod with one
interface (step 6's check passes them) but not for a node shared by attachments."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("same-node")
NAME_OF = 'f"{args.container_id}/{args.ifname}"'

MUTANTS = [
    mutant(
        "a host end named after the container only",
        NAME_OF,
        'f"{args.container_id}"',
        "host end of its own",
    ),
    mutant(
        "a host end name longer than 15 characters",
        '"veth" + digest[:11]',
        '"veth-" + args.ifname + "-" + digest[:11]',
        "host end of its own",
    ),
    mutant(
        "cni0 whatever the config says",
        'host.link_lookup(ifname=conf.get("bridge", BRIDGE))[0]',
        "host.link_lookup(ifname=BRIDGE)[0]",
        "the bridge its network's config names",
    ),
    mutant(
        "a default route on every interface",
        '            if conf.get("isDefaultGateway"):\n                pod.route(',
        "            if True:\n                pod.route(",
        "isDefaultGateway",
    ),
    mutant(
        "a host end name DEL cannot find again",
        NAME_OF,
        'f"{args.container_id}/{args.ifname}/{time.time_ns()}"',
        "DEL of a's eth1",
        ("import hashlib\n", "import hashlib\nimport time\n"),
    ),
]


def test_step_6s_plugin_is_not_enough(plan: Plan, tmp_path: Path) -> None:
    """The starter is step 6's reference: it fails at the names of the host ends."""
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "host end of its own" in failed[0].name and failed[0].hint == 1
    assert "File exists" in failed[0].message


def test_the_solution_passes_and_releases_its_addresses(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    ipam = [p.name for n in plan.nodes for p in Path(n.ipam_dir).rglob("10.24*")]
    assert ipam == [], f"addresses still reserved: {ipam}"


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_plugin_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_step_6s_check_passes_what_this_one_rejects(plan: Plan) -> None:
    """This step has a lesson of its own: step 6's check accepts step 6's naming."""
    assert run_check(get_exercise("add"), plan, EX.starter).passed

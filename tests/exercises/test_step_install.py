"""Step 13 (install): the check rejects the installers students really get wrong,
each at the assertion about its mistake, on a throwaway 2-node lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cluster.build import scratch_plans
from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.kernel.netns import list_netns
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("install")
EXECUTABLE = "write_atomically(Path(bin_dir) / plugin_type, "

MUTANTS = [
    mutant(
        "a config name that sorts after the lab's 10-pycni.conflist",
        'f"{CONF_PREFIX}-{plugin_type}.conflist"',
        'f"{plugin_type}.conflist"',
        "the runtime picks your config",
    ),
    mutant(
        "the executable is not made executable",
        "+ source, 0o755)",
        "+ source, 0o644)",
        "is in the bin dir, and runs",
    ),
    mutant(
        "installed under the file's own name, not the type",
        EXECUTABLE,
        "write_atomically(Path(bin_dir) / Path(plugin).name, ",
        "is in the bin dir, and runs",
    ),
    mutant(
        "the config copied from the lab: type pycni",
        '"type": plugin_type,',
        '"type": "pycni",',
        "type names your executable",
    ),
    mutant(
        "a cniVersion from an old tutorial",
        'CNI_VERSION = "1.1.0"',
        'CNI_VERSION = "0.2.0"',
        "one file the runtime can use",
    ),
    mutant(
        "node1's pod CIDR hard-coded",
        'ipaddress.IPv4Network(node["pod_cidr"])',
        'ipaddress.IPv4Network("10.244.0.0/24")',
        "a pod on node2",
    ),
    mutant(
        "the conf dir emptied first, to be sure to win",
        "    source = Path(plugin).read_bytes()\n",
        "    source = Path(plugin).read_bytes()\n"
        "    for old in Path(conf_dir).iterdir():\n"
        "        old.unlink()\n",
        "other configs are left",
    ),
    mutant(
        "the plugin type is never checked",
        "    if not TYPE_RE.match(plugin_type):\n",
        "    if not plugin_type:\n",
        "is refused",
    ),
]


def _leftovers(plan: Plan) -> list[str]:
    mine = [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex13-")]
    return mine + [p.prefix for p in scratch_plans(plan)]


def test_the_starter_fails_at_its_first_run(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "for node2 runs" in failed[0].name and failed[0].hint == 1
    assert "NotImplementedError" in failed[0].message
    assert _leftovers(plan) == []


def test_the_solution_passes_and_leaves_the_lab_alone(plan: Plan) -> None:
    before = [sorted(Path(n.conf_dir).iterdir()) for n in plan.nodes]
    bins = sorted(Path(plan.bin_dir).iterdir())
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert _leftovers(plan) == []
    assert [sorted(Path(n.conf_dir).iterdir()) for n in plan.nodes] == before
    assert sorted(Path(plan.bin_dir).iterdir()) == bins


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_installer_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_the_runtime_says_why_it_skipped_each_config(plan: Plan, tmp_path: Path) -> None:
    report = run_check(EX, plan, write_mutant(tmp_path, EX, MUTANTS[0]))
    failed = next(a for a in report.assertions if a.passed is False)
    assert "00-gone.conflist" in failed.message and "flannel" in failed.message
    assert "10-pycni.conflist: valid" in failed.message

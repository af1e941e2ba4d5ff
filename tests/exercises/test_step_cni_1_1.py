"""Step 14 (cni-1-1): the check rejects the GC, STATUS and VERSION students really get
wrong, each at the assertion about its mistake, and it leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.kernel.netns import list_netns
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("cni-1-1")

MUTANTS = [
    mutant(
        "VERSION without 0.4.0",
        '("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")',
        '("0.3.0", "0.3.1", "1.0.0", "1.1.0")',
        "VERSION lists every version",
    ),
    mutant(
        "GC keeps by container ID only (a pod's eth1 survives)",
        '(a.get("containerID"), a.get("ifname"))',
        'a.get("containerID")',
        "forgot",
        ("if (container_id, ifname) not in keep:", "if container_id not in keep:"),
    ),
    mutant(
        "GC of every network (the label's network ignored)",
        "mine = f\"{LABEL} {conf['name']} \"",
        'mine = f"{LABEL} "',
        "nothing that is not this network's",
        (
            'link.alias.removeprefix(mine).partition(" ")',
            'link.alias.split(" ", 2)[2].partition(" ")',
        ),
    ),
    mutant(
        "GC matches the network by prefix (no space after the name)",
        "mine = f\"{LABEL} {conf['name']} \"",
        "mine = f\"{LABEL} {conf['name']}\"",
        "nothing that is not this network's",
        (
            'link.alias.removeprefix(mine).partition(" ")',
            'link.alias.split(" ", 2)[2].partition(" ")',
        ),
    ),
    mutant(
        "GC by the host veth's name, without looking at labels",
        "if not link.alias.startswith(mine):\n                    continue",
        'if not link.name.startswith("veth") and not link.alias.startswith(mine):\n'
        "                    continue",
        "nothing that is not this network's",
    ),
    mutant(
        "GC forgets the IPAM's half",
        '        delegate("GC", conf, args)\n',
        "",
        "releases the forgotten",
    ),
    mutant(
        "STATUS swallows the IPAM's error",
        "        except CNIError as e:\n            raise CNIError(\n"
        "                ErrorCode.NOT_AVAILABLE, f\"IPAM {conf['ipam']['type']}: {e.msg}\", "
        "e.details\n            ) from e",
        "        except CNIError:\n            pass",
        "pool is full",
    ),
]


def _leftovers(plan: Plan) -> list[str]:
    netns = [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex14-")]
    made = [str(p) for p in Path(plan.state_dir, "checks").glob("ex14-*")]
    links = json.loads(
        subprocess.run(
            ["ip", "-n", plan.nodes[0].netns, "-j", "link"], capture_output=True, check=True
        ).stdout
    )
    return netns + made + [x["ifname"] for x in links if x["ifname"].startswith(("ex14", "veth"))]


def test_the_starter_fails_at_version(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "VERSION" in failed[0].name and failed[0].hint == 1
    assert _leftovers(plan) == []


def test_the_solution_passes_and_leaves_nothing(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert _leftovers(plan) == []


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_plugin_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)
    assert _leftovers(plan) == []

"""Step 3 (by hand): the student's functions drive bridge and pycni in node1; values,
a failing call, the gateway and the default route are checked, and the mistakes
students really make are each refused at the assertion about them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.kernel.netns import list_netns
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("by-hand")

MUTANTS = [
    mutant(
        "the ifname is always eth0",
        '"CNI_IFNAME": ifname,',
        '"CNI_IFNAME": "eth0",',
        "cni_env",
    ),
    mutant(
        "the container ID and the netns swapped",
        '"CNI_CONTAINERID": container_id,\n        "CNI_NETNS": netns,',
        '"CNI_CONTAINERID": netns,\n        "CNI_NETNS": container_id,',
        "cni_env",
    ),
    mutant(
        "the env is not handed to the plugin",
        "[plugin], env=env, input",
        "[plugin], input",
        "call runs a plugin",
    ),
    mutant(
        "a failing plugin raises (check=True)",
        "capture_output=True, check=False",
        "capture_output=True, check=True",
        "call reports a failure",
    ),
    mutant(
        "the answer is dropped when the plugin fails",
        "return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}",
        "return done.returncode, json.loads(done.stdout) if done.returncode == 0 else {}",
        "call reports a failure",
    ),
    mutant(
        "the subnet is hard-coded to the lesson's",
        '"subnet": subnet,',
        '"subnet": "10.99.3.0/24",',
        "an address of",
    ),
    mutant(
        "no isDefaultGateway: an address but no way out",
        '        "isDefaultGateway": True,\n',
        "",
        "default route",
    ),
    mutant(
        "dataDir left out (host-local's default folder)",
        ', "dataDir": data_dir}',
        "}",
        "data dir",
    ),
    mutant(
        "DEL's empty stdout is decoded as JSON",
        "json.loads(done.stdout) if done.stdout.strip() else {}",
        "json.loads(done.stdout)",
        "DEL through your functions",
    ),
]


def test_check_fails_on_the_starter(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1 and failed[0].hint == 1


def test_check_passes_on_the_solution_and_leaves_nothing(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert not [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex03-")]
    links = json.loads(_node1(plan, "ip", "-j", "link").stdout)
    assert "ex03br" not in {link["ifname"] for link in links}


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_variant_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    try:
        assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)
    finally:  # host-local's default folder, used by the dataDir mutant
        shutil.rmtree("/var/lib/cni/networks/ex03net", ignore_errors=True)


def test_a_config_naming_cni0_leaves_cni0_as_it_was(plan: Plan, tmp_path: Path) -> None:
    m = mutant(
        "the lab's own bridge", '"bridge": bridge,', '"bridge": "cni0",', "accepts your config"
    )
    before = _node1(plan, "ip", "-br", "addr", "show", "cni0").stdout
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)
    assert _node1(plan, "ip", "-br", "addr", "show", "cni0").stdout == before


def _node1(plan: Plan, *argv: str) -> subprocess.CompletedProcess[str]:
    netns = plan.node("node1").netns_path
    return subprocess.run(
        ["nsenter", f"--net={netns}", "--", *argv], capture_output=True, text=True, check=False
    )

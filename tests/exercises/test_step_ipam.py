"""Step 4 (IPAM): the three bugs of the seed's bash allocator (moved here from
test_exercises.py) and the other mistakes students really make are each refused at
the assertion about them; the check's races line up every call, so they are caught
every time, not by luck."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("ipam")
IP_OF = (
    "class IPAM:",
    "class IPAM:\n    @staticmethod\n    def _ip_of(lines, args):\n"
    "        mine = [l.split()[0] for l in lines if l.split()[1:] == "
    "[args.container_id, args.ifname]]\n        return mine[0] if mine else '#'\n",
)

BASH_IPAM_BUGS = [
    mutant(
        "no lock around ADD",
        "with locked(path):\n            lines = read_lines(path)\n            taken",
        "if True:\n            lines = read_lines(path)\n            taken",
        "same instant",
    ),
    mutant(
        "the broadcast address handed out",
        "range(2, subnet.num_addresses - 1)",
        "range(2, subnet.num_addresses)",
        "broadcast",
    ),
    mutant(
        "release by pattern, like sed",
        "if line.split()[1:] != [args.container_id, args.ifname]",
        "if not line.startswith(str(self._ip_of(lines, args)))",
        "exactly one",
        IP_OF,
    ),
]
MUTANTS = [
    *BASH_IPAM_BUGS,
    mutant(
        "no lock around DEL",
        "with locked(path):\n            lines = read_lines(path)\n            kept",
        "if True:\n            lines = read_lines(path)\n            kept",
        "DELs racing ADDs",
    ),
    mutant(
        "release ignores the ifname",
        "if line.split()[1:] != [args.container_id, args.ifname]",
        "if line.split()[1:2] != [args.container_id]",
        "eth0 and eth1",
    ),
    mutant(
        "one store for every network",
        'folder = Path(conf["ipam"]["dataDir"]) / conf["name"]',
        'folder = Path(conf["ipam"]["dataDir"])',
        "two networks",
    ),
    mutant(
        "the network address given as the gateway",
        "gateway = subnet.network_address + 1",
        "gateway = subnet.network_address",
        "the gateway",
    ),
    mutant(
        "the address without its prefix length (a /32)",
        'ip_interface(f"{candidate}/{subnet.prefixlen}")',
        'ip_interface(f"{candidate}/32")',
        "with its prefix",
    ),
    mutant(
        "the gateway's address handed out",
        "range(2, subnet.num_addresses - 1)",
        "range(1, subnet.num_addresses - 1)",
        "never the network, the gateway",
    ),
]


def test_check_fails_on_the_starter(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1 and "broadcast" in failed[0].name


def test_check_passes_on_the_solution(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert len(report.assertions) == 10


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_variant_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)

"""Step 6 (add): the check rejects the ADDs students really get wrong, each at the
assertion about its mistake, and it leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.kernel.netns import list_netns
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("add")

MUTANTS = [
    mutant(
        "the pod network's /16 on the pod",
        "prefixlen=ip.address.network.prefixlen",
        "prefixlen=16",
        "with the pod CIDR's prefix",
    ),
    mutant(
        "no prefixlen: a /32",
        "address=str(ip.address.ip),\n                prefixlen=ip.address.network.prefixlen,",
        "address=str(ip.address.ip),",
        "with the pod CIDR's prefix",
    ),
    mutant(
        "the default route before the link is up",
        '            pod.link("set", index=eth, state="up")\n'
        '            pod.route("add", dst="0.0.0.0", dst_len=0, gateway=str(ip.gateway))\n',
        '            pod.route("add", dst="0.0.0.0", dst_len=0, gateway=str(ip.gateway))\n'
        '            pod.link("set", index=eth, state="up")\n',
        "default route",
    ),
    mutant(
        "ips[].interface points to the host end",
        "ip.interface = 1",
        "ip.interface = 0",
        "the result",
    ),
    mutant(
        "the host end's MAC in the result",
        'mac = pod.link("get", index=eth)[0].get("address")',
        'mac = host.link("get", index=veth)[0].get("address")',
        "the result",
    ),
    mutant(
        "the host end left down",
        'host.link("set", index=veth, master=bridge, state="up")',
        'host.link("set", index=veth, master=bridge)',
        "host end",
    ),
    mutant(
        "eth0 hard-coded instead of CNI_IFNAME",
        'peer={"ifname": args.ifname, "net_ns_fd": pod_fd}',
        'peer={"ifname": "eth0", "net_ns_fd": pod_fd}',
        "as CNI_IFNAME says",
    ),
    mutant(
        "node1's gateway hard-coded",
        "gateway=str(ip.gateway))",
        'gateway="10.244.0.1")',
        "node2's gateway",
    ),
]


def _leftovers(plan: Plan) -> list[str]:
    return [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex06-")]


def test_the_starter_fails_at_the_veth(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "CNI_IFNAME" in failed[0].name and failed[0].hint == 1


def test_the_solution_passes_and_releases_its_addresses(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    ipam = [p.name for n in plan.nodes for p in Path(n.ipam_dir).rglob("10.244.*")]
    assert ipam == [], f"addresses still reserved: {ipam}"


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_add_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_a_32_is_named_for_what_it_is(plan: Plan, tmp_path: Path) -> None:
    """Not 'NetlinkError 101' and the veth's hint: the /32 and why the route failed."""
    report = run_check(EX, plan, write_mutant(tmp_path, EX, MUTANTS[1]))
    failed = next(a for a in report.assertions if a.passed is False)
    assert "/32" in failed.message and "prefixlen" in failed.message
    assert failed.hint == 3

"""Step 11 (del-check): the check rejects the DELs and CHECKs students really get wrong,
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
EX = get_exercise("del-check")
RELEASE = '        delegate_del(conf["ipam"]["type"], args.stdin_data)\n'
DELETE_VETH = (
    "            links.delete_link(host, host_veth_name(args))  # False when it was already gone\n"
)

MUTANTS = [
    mutant("DEL forgets the address", RELEASE, "", "frees your pod's address"),
    mutant(
        "DEL fails when the veth is already gone",
        DELETE_VETH,
        '            host.link("del", index=host.link_lookup(ifname=host_veth_name(args))[0])\n',
        "second DEL",
    ),
    mutant(
        "DEL stops when the veth is already gone (the address stays when the netns went)",
        DELETE_VETH,
        "            if not links.delete_link(host, host_veth_name(args)):\n"
        "                return\n",
        "namespace is gone",
    ),
    mutant(
        "DEL frees every address of the container (eth0's too)",
        RELEASE,
        '        store = Path(conf["ipam"]["dataDir"], conf["name"])\n'
        "        for f in store.iterdir():\n"
        "            if f.read_text().startswith(args.container_id):\n"
        "                f.unlink()\n",
        "leaves the pod's eth0",
        ("import sys\n", "import sys\nfrom pathlib import Path\n"),
    ),
    mutant(
        "DEL frees by prefix, like the seed's sed (10.11.0.2 frees 10.11.0.20)",
        RELEASE,
        "        prev = PluginConf.from_dict(conf).prev_result\n"
        '        store = Path(conf["ipam"]["dataDir"], conf["name"])\n'
        '        for f in store.glob(f"{prev.ips[0].address.ip}*"):\n'
        "            f.unlink()\n",
        "leaves the pod's eth0",
        ("import sys\n", "import sys\nfrom pathlib import Path\n"),
    ),
    mutant(
        "CHECK looks at the link only, not its addresses",
        "            if ip.interface == index and ip.address not in have:",
        "            if False:",
        "address is gone",
    ),
    mutant(
        "CHECK compares the IP without its prefix",
        "            if ip.interface == index and ip.address not in have:",
        "            if ip.interface == index and ip.address.ip not in [a.ip for a in have]:",
        "another prefix",
    ),
    mutant(
        "CHECK never asks the IPAM",
        '        delegate_check(conf.ipam["type"], args.stdin_data)\n',
        "",
        "IPAM no longer holds",
    ),
    mutant(
        "CHECK looks at eth0, whatever CNI_IFNAME says",
        "                link = links.link_by_name(pod, args.ifname)",
        '                link = links.link_by_name(pod, "eth0")',
        "healthy eth1",
    ),
]


def _leftovers(plan: Plan) -> list[str]:
    netns = [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex11-")]
    made = [str(p) for p in Path(plan.state_dir, "checks").glob("ex11-*")]
    held = [p.name for n in plan.nodes for p in Path(n.ipam_dir).rglob("10.244.*")]
    return netns + made + held


def test_the_starter_fails_at_the_second_del(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1
    assert "second DEL" in failed[0].name and failed[0].hint == 2
    assert _leftovers(plan) == []


def test_the_solution_passes_and_leaves_nothing(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert _leftovers(plan) == []


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_del_or_check_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)
    assert _leftovers(plan) == []

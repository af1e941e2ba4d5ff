"""`up` builds the two-node world of the seeds; `down` leaves the host exactly as it was."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from lab.cluster import build
from lab.kernel.netns import list_netns
from tests.conftest import RunningLab, new_plan

pytestmark = pytest.mark.root


def host_state() -> dict[str, object]:
    """The host namespace as the kernel sees it: links, addresses, routes, rules, sysctls."""
    with IPRoute() as ipr:
        links = sorted((m.get("ifname"), m["index"], m["flags"]) for m in ipr.link("dump"))
        addrs = sorted((m["index"], m.get("address"), m["prefixlen"]) for m in ipr.addr("dump"))
        routes = sorted(
            (m["family"], m.get("dst") or "", m["dst_len"], m.get("gateway") or "", m.get("table"))
            for m in ipr.route("dump", table=0)
        )
        rules = sorted(
            (m["family"], m.get("priority") or 0, m.get("table")) for m in ipr.rule("dump")
        )
    sysctls = {}
    for folder in ("/proc/sys/net/ipv4/conf/all", "/proc/sys/net/ipv4/conf/default"):
        for name in os.listdir(folder):
            with contextlib.suppress(OSError):  # a few are write-only
                sysctls[f"{folder}/{name}"] = Path(folder, name).read_text()
    sysctls["ip_forward"] = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    return {"links": links, "addrs": addrs, "routes": routes, "rules": rules, "sysctls": sysctls}


def test_up_and_down_leave_the_host_namespace_exactly_as_it_was(tmp_path: Path) -> None:
    before = host_state()
    plan = build.up(new_plan(tmp_path))
    try:
        from lab.runtime.pods import Runtime

        Runtime(plan).add("web", "node1")
        Runtime(plan).add("db", "node2")
    finally:
        removed = build.down(plan)
    assert len(removed) == 6
    assert host_state() == before
    agents = subprocess.run(["pgrep", "-f", plan.bin_dir], capture_output=True, text=True)
    assert agents.stdout == "", "an agent (or one of its workers) outlived the lab"
    assert not [ns for ns in list_netns() if ns.startswith(plan.prefix)]
    assert not Path(plan.state_dir).exists()
    assert build.down(plan) == []  # a second down is a no-op


def test_up_builds_nodes_routes_and_masquerade(lab: RunningLab) -> None:
    plan = lab.plan
    node1, node2 = plan.nodes
    routes = lab.sh(node1.netns, "ip", "route").stdout
    assert f"{node2.pod_cidr} via {node2.underlay_ip} dev eth0" in routes
    assert "default via 192.168.56.1" in routes
    assert f"inet {node1.gateway}/24" in lab.sh(node1.netns, "ip", "addr", "show", "cni0").stdout
    assert lab.sh(node1.netns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    nat = lab.sh(node1.netns, "nft", "list", "table", "ip", "cnilab").stdout
    assert "ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade" in nat
    lab.ping(node1.netns, node2.underlay_ip)
    lab.ping(node1.netns, plan.internet_address)
    conf = json.loads(Path(node2.conf_dir, "10-pycni.conflist").read_text())
    assert conf["plugins"][0]["ipam"]["subnet"] == "10.244.1.0/24"


def test_a_second_up_is_refused_until_down(lab: RunningLab) -> None:
    with pytest.raises(build.LabError, match="already up"):
        build.up(lab.plan)


def test_three_nodes_route_to_each_other(tmp_path: Path) -> None:
    plan = build.up(new_plan(tmp_path, nodes=3))
    try:
        routes = RunningLab(plan, None).sh(plan.nodes[2].netns, "ip", "route").stdout  # type: ignore[arg-type]
        assert "10.244.0.0/24 via 192.168.56.11" in routes
        assert "10.244.1.0/24 via 192.168.56.12" in routes
    finally:
        build.down(plan)

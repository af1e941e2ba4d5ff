"""A small two-node lab in fresh `pytest-*` namespaces, built with the real pycni plugin.

    node-0 ── ul0 (veth, ifindex 2 on both sides) ── node-1
    node-0 ── eth1 ── n1 ┐
                         br0 (underlay-2)
    node-1 ── eth1 ── n2 ┘
    node-0: cni0 ── pods a, b     node-1: cni0 ── pod c

The plan's prefix is the test's namespace prefix, so an Inspector given the plan
sees exactly this lab. Every namespace is removed afterwards, even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.cluster.plan import Node as PlanNode
from lab.cluster.plan import Plan
from tests.conftest import Namespaces
from tests.kernel.conftest import Node, make_bin_dir


@dataclass
class Pod:
    name: str
    netns: str
    node: Node
    container_id: str
    host_veth: str
    address: str


@dataclass
class Lab:
    plan: Plan
    nodes: list[Node]
    underlay: str
    namespaces: Namespaces
    pods: dict[str, Pod] = field(default_factory=dict)

    def add_pod(self, node: int, cid: str, record: bool = True) -> Pod:
        n = self.nodes[node]
        netns = self.namespaces.new("pod")
        subnet = self.plan.nodes[node].pod_cidr
        ipam = {"type": "pycni-ipam", "subnet": subnet, "dataDir": str(n.data_dir)}
        call = n.run("ADD", n.conf(ipam=ipam), cid, netns)
        assert call.exit == 0, call.stdout + call.stderr
        result = call.json
        pod = Pod(
            name=netns.removeprefix(self.plan.prefix + "-"),
            netns=netns,
            node=n,
            container_id=cid,
            host_veth=result["interfaces"][1]["name"],
            address=result["ips"][0]["address"],
        )
        if record:
            self.write_record(pod, self.plan.nodes[node].name)
        self.pods[pod.name] = pod
        return pod

    def write_record(self, pod: Pod, node_name: str) -> None:
        folder = Path(self.plan.pods_dir)
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "name": pod.name,
            "node": node_name,
            "container_id": pod.container_id,
            "netns": f"/run/netns/{pod.netns}",
            "attachments": [{"ifname": "eth0", "network": "testnet"}],
            "created": "2024-01-01T00:00:00Z",
        }
        tmp = folder / f".{pod.name}.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, folder / f"{pod.name}.json")


def _make_node(namespaces: Namespaces, tmp: Path, bin_dir: Path) -> Node:
    tmp.mkdir(parents=True)
    node = Node(
        name=namespaces.new("node"),
        bin_dir=bin_dir,
        data_dir=tmp / "ipam",
        log_file=tmp / "pycni.log",
        namespaces=namespaces,
        extra_env={"PYCNI_NO_DAEMON": "1"},
    )
    node.sh("ip", "link", "set", "lo", "up")
    return node


def _wire_underlay(n1: Node, n2: Node, underlay: str) -> None:
    def ok(out: str) -> None:
        assert not out.strip(), out

    # First link in two fresh namespaces: both ends get ifindex 2.
    ok(n1.sh("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", n2.name))
    ok(n1.sh("ip", "addr", "add", "10.0.0.1/30", "dev", "ul0"))
    ok(n2.sh("ip", "addr", "add", "10.0.0.2/30", "dev", "ul0"))
    ok(n1.sh("ip", "link", "set", "ul0", "up"))
    ok(n2.sh("ip", "link", "set", "ul0", "up"))
    ok(n1.sh("ip", "link", "add", "br0", "type", "bridge", netns=underlay))
    ok(n1.sh("ip", "link", "set", "br0", "up", netns=underlay))
    for node, port, ip, other in (
        (n1, "n1", "192.168.56.11", "10.244.1.0/24"),
        (n2, "n2", "192.168.56.12", "10.244.0.0/24"),
    ):
        ok(
            node.sh(
                "ip", "link", "add", "eth1", "type", "veth", "peer", "name", port, "netns", underlay
            )
        )
        ok(node.sh("ip", "addr", "add", f"{ip}/24", "dev", "eth1"))
        ok(node.sh("ip", "link", "set", "eth1", "up"))
        ok(node.sh("ip", "link", "set", port, "master", "br0", "up", netns=underlay))
        gw = "192.168.56.12" if node is n1 else "192.168.56.11"
        ok(node.sh("ip", "route", "add", other, "via", gw))


def _plan_node(i: int, netns: str, state: Path) -> PlanNode:
    return PlanNode(
        name=f"node{i}",
        netns=netns,
        pod_cidr=f"10.244.{i - 1}.0/24",
        gateway=f"10.244.{i - 1}.1",
        secondary_cidr=f"10.245.{i - 1}.0/24",
        underlay_ip=f"192.168.56.{10 + i}",
        state_dir=str(state / "nodes" / f"node{i}"),
    )


@pytest.fixture
def lab(namespaces: Namespaces, tmp_path: Path) -> Iterator[Lab]:
    if not shutil.which("nsenter"):
        pytest.skip("nsenter (util-linux) is needed")
    bin_dir = make_bin_dir(tmp_path / "bin")
    n1 = _make_node(namespaces, tmp_path / "node1", bin_dir)
    n2 = _make_node(namespaces, tmp_path / "node2", bin_dir)
    underlay = namespaces.new("underlay")
    _wire_underlay(n1, n2, underlay)
    state = tmp_path / "state"
    plan = Plan(
        nodes=[
            _plan_node(1, n1.name, state),
            _plan_node(2, n2.name, state),
        ],
        prefix=namespaces.prefix,
        state_dir=str(state),
        underlay_netns=underlay,
    )
    lab = Lab(plan=plan, nodes=[n1, n2], underlay=underlay, namespaces=namespaces)
    lab.add_pod(0, "cid-a")
    lab.add_pod(0, "cid-b")
    lab.add_pod(1, "cid-c")
    yield lab


def _thread_namespaces() -> dict[int, tuple[int, int]]:
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            st = os.stat(f"/proc/self/task/{tid}/ns/net")
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        found[int(tid)] = (st.st_dev, st.st_ino)
    return found


@pytest.fixture(autouse=True)
def no_thread_moves() -> Iterator[None]:
    """After each test, every thread is home and no inspector thread is left."""
    home = os.stat("/proc/thread-self/ns/net")
    home_key = (home.st_dev, home.st_ino)
    before = set(threading.enumerate())
    yield
    assert set(_thread_namespaces().values()) == {home_key}
    left = [t.name for t in set(threading.enumerate()) - before]
    assert not left, f"threads left running: {left}"

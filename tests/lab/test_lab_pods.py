"""Pods through the runtime: same node, across nodes (TTL 62), to the internet, and back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.kernel.netns import list_netns
from lab.runtime.journal import Journal
from lab.runtime.pods import PodError
from tests.conftest import RunningLab


def lab_netns(lab: RunningLab) -> set[str]:
    """This lab's namespaces (other tests may make and remove theirs meanwhile)."""
    return {ns for ns in list_netns() if ns.startswith(lab.plan.prefix + "-")}


pytestmark = pytest.mark.root


def test_pods_on_one_node_ping_each_other(lab: RunningLab) -> None:
    lab.runtime.add("a", "node1")
    lab.runtime.add("b", "node1")
    out = lab.ping(lab.plan.pod_netns("a"), lab.ip("b"))
    assert "ttl=64" in out


def test_pods_on_two_nodes_ping_with_ttl_62(lab: RunningLab) -> None:
    lab.runtime.add("web", "node1")
    lab.runtime.add("db", "node2")
    assert lab.ip("web").startswith("10.244.0.") and lab.ip("db").startswith("10.244.1.")
    out = lab.ping(lab.plan.pod_netns("web"), lab.ip("db"))
    assert "ttl=62" in out  # the seed's capture: two routers, node1 and node2


LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("203.0.113.1", 9999))
s.settimeout(10)
print("ready", flush=True)
data, peer = s.recvfrom(100)
print(peer[0], flush=True)
"""


def test_egress_is_masqueraded_to_the_node_address(lab: RunningLab) -> None:
    lab.runtime.add("web", "node2")
    listener = subprocess.Popen(
        [
            "nsenter",
            f"--net=/run/netns/{lab.plan.internet_netns}",
            "--",
            sys.executable,
            "-c",
            LISTEN,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "ready"
        send = "import socket; socket.socket(2, 2).sendto(b'hi', ('203.0.113.1', 9999))"
        lab.sh(lab.plan.pod_netns("web"), sys.executable, "-c", send)
        source = listener.stdout.readline().strip()
    finally:
        listener.kill()
        listener.wait()
    assert source == lab.plan.node("node2").underlay_ip
    lab.ping(lab.plan.pod_netns("web"), lab.plan.internet_address)


def test_pod_del_frees_the_address_and_the_veth(lab: RunningLab) -> None:
    pod = lab.runtime.add("gone", "node1")
    node = lab.plan.node("node1")
    host_veth = pod.attachments[0].result["interfaces"][1]["name"]
    assert host_veth in lab.sh(node.netns, "ip", "link").stdout
    lab.runtime.delete("gone")
    assert host_veth not in lab.sh(node.netns, "ip", "link").stdout
    assert [p.name for p in Path(node.ipam_dir, "cnilab").glob("10.*")] == []
    assert pod.netns not in list_netns()
    again = lab.runtime.add("again", "node1")
    assert again.addresses()[0] == "10.244.0.3/24"  # round-robin, as host-local


def test_the_journal_keeps_env_stdin_and_result(lab: RunningLab) -> None:
    pod = lab.runtime.add("web", "node1")
    (rec,) = Journal(lab.plan.journal).tail(1)
    assert rec["command"] == "ADD" and rec["exit"] == 0 and rec["node"] == "node1"
    assert rec["env"]["CNI_CONTAINERID"] == pod.container_id
    assert rec["env"]["CNI_ARGS"].startswith("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;")
    assert "K8S_POD_NAME=web" in rec["env"]["CNI_ARGS"]
    assert json.loads(rec["stdin"])["name"] == "cnilab"
    assert json.loads(rec["stdout"])["ips"][0]["address"] == "10.244.0.2/24"
    cache = Path(lab.plan.node("node1").cache_dir, "results", f"cnilab-{pod.container_id}-eth0")
    assert json.loads(cache.read_text())["kind"] == "cniCacheV1"


def test_second_interface_lands_on_the_secondary_network(lab: RunningLab) -> None:
    lab.runtime.add("multi", "node1")
    pod = lab.runtime.add("multi", ifname="eth1")
    assert [a.network for a in pod.attachments] == ["cnilab", "secondary"]
    addrs = lab.sh(pod.netns, "ip", "-br", "addr").stdout
    assert "10.245.0.2/24" in addrs and "10.244.0.2/24" in addrs
    assert lab.runtime.check("multi") == ["eth0", "eth1"]
    lab.runtime.delete("multi")
    assert pod.netns not in list_netns()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "Bad_Name"}, "invalid pod name"),
        ({"name": "node1"}, "reserved"),
        ({"name": "x", "node": "node7"}, "unknown node"),
        ({"name": "x", "ifname": "a-very-long-ifname"}, "invalid interface name"),
    ],
)
def test_bad_input_is_a_clear_error_and_makes_nothing(
    lab: RunningLab, kwargs: dict, words: str
) -> None:
    before = lab_netns(lab)
    with pytest.raises(PodError, match=words):
        lab.runtime.add(**kwargs)
    assert lab_netns(lab) == before


def test_duplicate_pod_interface_is_refused(lab: RunningLab) -> None:
    lab.runtime.add("dup", "node1")
    with pytest.raises(PodError, match="already has eth0"):
        lab.runtime.add("dup", "node1")
    with pytest.raises(PodError, match="runs on node1"):
        lab.runtime.add("dup", "node2", ifname="eth1")


BROKEN = """
import sys
sys.stdin.read()
print("this is not JSON")
sys.exit(1)
"""

GARBAGE_OK = """
import sys
sys.stdin.read()
print("{ not json either")
"""


@pytest.mark.parametrize("source", [BROKEN, GARBAGE_OK])
def test_a_failing_plugin_leaves_no_pod_and_the_journal_keeps_the_call(
    lab: RunningLab, tmp_path: Path, source: str
) -> None:
    plugin = tmp_path / "student.py"
    plugin.write_text(source)
    before = lab_netns(lab)
    with pytest.raises(PodError, match="ADD of broken/eth0 on node1 failed"):
        lab.runtime.add("broken", "node1", plugin_file=str(plugin))
    assert lab_netns(lab) == before
    assert lab.runtime.get("broken") is None
    calls = Journal(lab.plan.journal).tail(2)
    assert [c["command"] for c in calls] == ["ADD", "DEL"]  # SPEC: DEL follows a failed ADD
    assert "not JSON" in calls[0]["stdout"] or "not json" in calls[0]["stdout"]


def test_a_student_plugin_file_runs_in_place_of_pycni(lab: RunningLab, tmp_path: Path) -> None:
    plugin = tmp_path / "mine.py"
    plugin.write_text("from lab.pycni.entry import main\nmain()\n")
    pod = lab.runtime.add("student", "node1", plugin_file=str(plugin))
    assert pod.attachments[0].plugin_file == str(plugin)
    (rec,) = Journal(lab.plan.journal).tail(1)
    assert rec["env"]["CNI_PATH"].startswith(f"{lab.plan.state_dir}/student/")
    lab.ping(pod.netns, lab.plan.node("node1").gateway)
    lab.runtime.delete("student")

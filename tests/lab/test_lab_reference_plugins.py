"""Any plugin goes through the same door: Debian's reference plugins in a node's config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab.cluster import build
from lab.runtime.journal import Journal
from lab.runtime.pods import PortMapping
from tests.conftest import RunningLab

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not Path("/usr/lib/cni/bridge").exists(), reason="containernetworking-plugins"
    ),
]


def write_conf(lab: RunningLab, node: str, name: str, conf: dict) -> None:
    Path(lab.plan.node(node).conf_dir, name).write_text(json.dumps(conf))


@pytest.mark.skipif(not shutil.which("iptables"), reason="portmap needs iptables")
def test_chain_with_the_reference_portmap(lab: RunningLab) -> None:
    node = lab.plan.node("node1")
    pycni = json.loads(Path(node.conf_dir, "10-pycni.conflist").read_text())["plugins"][0]
    chain = {
        "cniVersion": "1.0.0",  # Debian's reference plugins speak up to 1.0.0
        "name": "withportmap",
        "plugins": [pycni, {"type": "portmap", "capabilities": {"portMappings": True}}],
    }
    write_conf(lab, "node1", "05-portmap.conflist", chain)
    pod = lab.runtime.add("web", "node1", ports=[PortMapping.parse("8080:80")])
    result = pod.attachments[0].result
    assert pod.attachments[0].network == "withportmap"
    assert result["cniVersion"] == "1.0.0"
    assert result["ips"][0]["address"] == "10.244.0.2/24"
    (portmap,) = [c for c in Journal(lab.plan.journal).tail(2) if c["plugin"] == "portmap"]
    stdin = json.loads(portmap["stdin"])
    assert stdin["prevResult"]["ips"][0]["address"] == "10.244.0.2/24"
    assert stdin["runtimeConfig"] == {
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    }
    nat = lab.sh(node.netns, "iptables-save", "-t", "nat").stdout
    assert "--dport 8080" in nat and "10.244.0.2:80" in nat
    lab.runtime.delete("web")
    assert "10.244.0.2:80" not in lab.sh(node.netns, "iptables-save", "-t", "nat").stdout


def test_reference_bridge_and_host_local_replace_pycni(lab: RunningLab) -> None:
    build.use_reference_plugins(lab.plan)
    a = lab.runtime.add("a", "node1")
    lab.runtime.add("b", "node2")
    assert a.attachments[0].network == "reference"
    assert a.attachments[0].result["interfaces"][0]["name"] == "cni0"
    assert "ttl=62" in lab.ping(a.netns, lab.ip("b"))
    lab.runtime.delete("a")
    lab.runtime.delete("b")
    assert not list(Path(lab.plan.node("node1").ipam_dir, "reference").glob("10.*"))

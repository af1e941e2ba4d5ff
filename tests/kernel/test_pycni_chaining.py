"""pycni in a chain with Debian's reference plugins, both ways round."""

from __future__ import annotations

import shutil

import pytest

from lab.cni.invoke import REFERENCE_BIN
from tests.kernel.conftest import Node
from tests.kernel.test_pycni_add import add_pod

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (REFERENCE_BIN / "tuning").exists(), reason="containernetworking-plugins"
    ),
]
VERSION = "1.0.0"  # Debian's reference plugins (1.1.x) speak up to 1.0.0


def chained(node: Node, plugin: dict, prev: dict) -> dict:
    return {"cniVersion": VERSION, "name": "testnet", **plugin, "prevResult": prev}


def test_tuning_after_pycni_reads_its_prev_result(node: Node) -> None:
    pod, result = add_pod(node, "tun", cniVersion=VERSION)
    conf = chained(node, {"type": "tuning", "mtu": 1280, "promisc": True}, result)
    call = node.run("ADD", conf, "tun", pod, plugin="tuning")
    assert call.exit == 0, call.stdout + call.stderr
    assert call.json["ips"] == result["ips"]
    link = node.sh("ip", "link", "show", "eth0", netns=pod)
    assert "mtu 1280" in link
    assert "PROMISC" in link


@pytest.mark.skipif(not shutil.which("iptables"), reason="portmap needs iptables")
def test_portmap_after_pycni_maps_a_host_port(node: Node) -> None:
    pod, result = add_pod(node, "pm", cniVersion=VERSION)
    plugin = {
        "type": "portmap",
        "capabilities": {"portMappings": True},
        "runtimeConfig": {
            "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
        },
    }
    call = node.run("ADD", chained(node, plugin, result), "pm", pod, plugin="portmap")
    assert call.exit == 0, call.stdout + call.stderr
    assert call.json["interfaces"] == result["interfaces"]
    rules = node.sh("iptables-save", "-t", "nat")
    assert "--dport 8080" in rules
    assert "10.244.0.2:80" in rules
    node.run("DEL", chained(node, plugin, call.json), "pm", pod, plugin="portmap")
    assert node.run("DEL", node.conf(cniVersion=VERSION), "pm", pod).exit == 0
    assert "10.244.0.2:80" not in node.sh("iptables-save", "-t", "nat")


def test_pycni_extends_a_prev_result(node: Node) -> None:
    prev = {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "lo", "sandbox": "/x"}],
        "ips": [{"address": "192.0.2.5/24", "interface": 0}],
        "dns": {"nameservers": ["192.0.2.53"]},
    }
    _, result = add_pod(node, "ext", prevResult=prev)
    assert result["interfaces"][0]["name"] == "lo"
    assert len(result["interfaces"]) == 4
    assert result["ips"][0]["address"] == "192.0.2.5/24"
    assert result["ips"][1] == {"interface": 3, "address": "10.244.0.2/24", "gateway": "10.244.0.1"}
    assert result["dns"] == {"nameservers": ["192.0.2.53"]}

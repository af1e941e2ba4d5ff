"""ADD through the real executable, asserting on kernel state and real pings."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.kernel.conftest import Node

pytestmark = pytest.mark.root


def add_pod(node: Node, cid: str, **conf_over: object) -> tuple[str, dict]:
    pod = node.namespaces.new("pod")
    call = node.run("ADD", node.conf(**conf_over), cid, pod)
    assert call.exit == 0, call.stdout + call.stderr
    return pod, call.json


def test_pod_gets_address_route_and_pings(node: Node) -> None:
    pod_a, result = add_pod(node, "aaa")
    add_pod(node, "bbb")

    assert result["interfaces"][0]["name"] == "cni0"
    assert result["interfaces"][2]["sandbox"] == f"/run/netns/{pod_a}"
    assert result["ips"] == [{"interface": 2, "address": "10.244.0.2/24", "gateway": "10.244.0.1"}]
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.244.0.1"}]

    assert "inet 10.244.0.2/24" in node.sh("ip", "addr", "show", "eth0", netns=pod_a)
    assert "default via 10.244.0.1 dev eth0" in node.sh("ip", "route", netns=pod_a)
    assert "inet 10.244.0.1/24" in node.sh("ip", "addr", "show", "cni0")
    assert node.sh("cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
    host_veth = result["interfaces"][1]["name"]
    assert "master cni0" in node.sh("ip", "link", "show", host_veth)

    assert " 0% packet loss" in node.sh("ping", "-c1", "-W2", "10.244.0.1", netns=pod_a)
    assert " 0% packet loss" in node.sh("ping", "-c1", "-W2", "10.244.0.3", netns=pod_a)
    assert node.reservations() == {"10.244.0.2": "aaa/eth0", "10.244.0.3": "bbb/eth0"}


def test_result_mac_matches_the_kernel(node: Node) -> None:
    pod, result = add_pod(node, "mac")
    mac = result["interfaces"][2]["mac"]
    assert f"link/ether {mac}" in node.sh("ip", "link", "show", "eth0", netns=pod)


def test_fifty_concurrent_adds_get_distinct_addresses(node: Node) -> None:
    pods = [node.namespaces.new("pod") for _ in range(50)]
    conf = node.conf()

    def add(i: int) -> str:
        call = node.run("ADD", conf, f"c{i}", pods[i])
        assert call.exit == 0, call.stdout
        return call.json["ips"][0]["address"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        addresses = list(pool.map(add, range(50)))
    assert len(set(addresses)) == 50
    assert len(node.reservations()) == 50


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_result_is_written_in_the_config_version(node: Node, version: str) -> None:
    _, result = add_pod(node, f"v{version.replace('.', '')}", cniVersion=version)
    assert result["cniVersion"] == version
    ip = result["ips"][0]
    assert ("version" in ip) == (version < "1.0.0")
    assert ("mtu" in result["interfaces"][2]) == (version == "1.1.0")


def test_cni_versions_list_picks_the_highest_supported(node: Node) -> None:
    conf = node.conf(cniVersions=["0.4.0", "1.0.0", "9.9.9"])
    del conf["cniVersion"]
    call = node.run("ADD", conf, "vers", node.namespaces.new("pod"))
    assert call.exit == 0, call.stdout
    assert call.json["cniVersion"] == "1.0.0"


def test_second_interface_on_its_own_bridge(node: Node) -> None:
    pod, _ = add_pod(node, "multi")
    conf = node.conf(
        name="second",
        bridge="cni1",
        isDefaultGateway=False,
        ipam={"type": "pycni-ipam", "subnet": "10.99.0.0/24", "dataDir": str(node.data_dir)},
    )
    call = node.run("ADD", conf, "multi", pod, ifname="eth1")
    assert call.exit == 0, call.stdout
    assert "inet 10.99.0.2/24" in node.sh("ip", "addr", "show", "eth1", netns=pod)
    assert "default via 10.244.0.1" in node.sh("ip", "route", netns=pod)


def test_hairpin_mode_and_mtu(node: Node) -> None:
    pod, result = add_pod(node, "hair", hairpinMode=True, mtu=1400)
    host_veth = result["interfaces"][1]["name"]
    assert "hairpin on" in node.sh("ip", "-d", "link", "show", host_veth)
    assert "mtu 1400" in node.sh("ip", "link", "show", "eth0", netns=pod)


def test_ip_masq_rule_is_tagged_with_the_attachment(node: Node) -> None:
    add_pod(node, "masq", ipMasq=True)
    rules = json.loads(node.sh("nft", "-j", "list", "table", "inet", "pycni"))["nftables"]
    comments = [r["rule"].get("comment") for r in rules if "rule" in r]
    assert comments == ["testnet masq eth0"]


def test_host_local_ipam_is_delegated_through_cni_path(node: Node) -> None:
    ipam = {"type": "host-local", "subnet": "10.250.0.0/24", "dataDir": str(node.data_dir)}
    pod, result = add_pod(node, "hl", cniVersion="1.0.0", ipam=ipam)
    assert result["ips"][0]["address"] == "10.250.0.2/24"
    assert " 0% packet loss" in node.sh("ping", "-c1", "-W2", "10.250.0.1", netns=pod)
    assert node.reservations() == {"10.250.0.2": "hl/eth0"}


def test_daemon_serves_the_same_call(node: Node) -> None:
    node.extra_env = {}
    node.start_daemon()
    pod, result = add_pod(node, "viadaemon")
    assert result["ips"][0]["address"] == "10.244.0.2/24"
    assert " 0% packet loss" in node.sh("ping", "-c1", "-W2", "10.244.0.1", netns=pod)
    assert "ADD done" in node.log_file.read_text()

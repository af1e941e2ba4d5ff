"""DEL, CHECK, GC and STATUS: forgiving where the spec says so, exact everywhere else."""

from __future__ import annotations

import json

import pytest

from tests.kernel.conftest import Node
from tests.kernel.test_pycni_add import add_pod

pytestmark = pytest.mark.root


def host_veths(node: Node) -> list[str]:
    out = node.sh("ip", "-o", "link", "show", "type", "veth")
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line]


def masq_comments(node: Node) -> list[str]:
    out = node.sh("nft", "-j", "list", "table", "inet", "pycni")
    if not out.startswith("{"):
        return []
    return [i["rule"]["comment"] for i in json.loads(out)["nftables"] if "rule" in i]


def test_del_removes_veth_reservation_and_rule(node: Node) -> None:
    pod, _ = add_pod(node, "gone", ipMasq=True)
    call = node.run("DEL", node.conf(ipMasq=True), "gone", pod)
    assert call.exit == 0, call.stdout
    assert host_veths(node) == []
    assert node.reservations() == {}
    assert masq_comments(node) == []
    assert "eth0" not in node.sh("ip", "link", netns=pod)


def test_del_after_the_netns_was_deleted_frees_everything(node: Node) -> None:
    pod, _ = add_pod(node, "nsgone", ipMasq=True)
    node.namespaces.remove(pod)
    call = node.run("DEL", node.conf(ipMasq=True), "nsgone", pod)
    assert call.exit == 0, call.stdout
    assert node.reservations() == {}
    assert masq_comments(node) == []  # the reference bridge leaks this rule (plugins#810)


def test_del_without_netns_variable_and_twice(node: Node) -> None:
    add_pod(node, "twice")
    for _ in range(2):
        call = node.run("DEL", node.conf(), "twice", "")
        assert call.exit == 0, call.stdout
    assert node.reservations() == {}


def test_del_releases_only_its_own_address(node: Node) -> None:
    # the bash plugin's `sed` release also freed 10.244.0.20-29 when freeing .2
    for i in range(2, 25):
        add_pod(node, f"p{i}")
    node.run("DEL", node.conf(), "p2", "")
    assert "10.244.0.2" not in node.reservations()
    assert len(node.reservations()) == 22


def test_check_passes_then_fails_when_the_address_is_removed(node: Node) -> None:
    pod, result = add_pod(node, "chk")
    conf = node.conf(prevResult=result)
    assert node.run("CHECK", conf, "chk", pod).exit == 0
    node.sh("ip", "addr", "del", "10.244.0.2/24", "dev", "eth0", netns=pod)
    call = node.run("CHECK", conf, "chk", pod)
    assert call.exit == 1
    assert "10.244.0.2/24 is missing" in call.json["msg"]


def test_check_fails_when_the_reservation_is_gone(node: Node) -> None:
    pod, result = add_pod(node, "chk2")
    (node.data_dir / "testnet" / "10.244.0.2").unlink()
    call = node.run("CHECK", node.conf(prevResult=result), "chk2", pod)
    assert call.exit == 1
    assert "reserved" in call.json["msg"]


def test_check_is_refused_below_0_4_0(node: Node) -> None:
    pod, result = add_pod(node, "old", cniVersion="0.3.1")
    call = node.run("CHECK", node.conf(cniVersion="0.3.1", prevResult=result), "old", pod)
    assert call.exit == 1
    assert call.json["code"] == 1


def test_gc_frees_exactly_the_stale_attachments(node: Node) -> None:
    keep_pod, keep = add_pod(node, "keep", ipMasq=True)
    add_pod(node, "stale1", ipMasq=True)
    stale2, _ = add_pod(node, "stale2", ipMasq=True)
    node.namespaces.remove(stale2)
    valid = [{"containerID": "keep", "ifname": "eth0"}]
    call = node.run("GC", node.conf(ipMasq=True, **{"cni.dev/valid-attachments": valid}))
    assert call.exit == 0, call.stdout
    assert node.reservations() == {"10.244.0.2": "keep/eth0"}
    assert host_veths(node) == [keep["interfaces"][1]["name"]]
    assert masq_comments(node) == ["testnet keep eth0"]
    assert " 0% packet loss" in node.sh("ping", "-c1", "-W2", "10.244.0.1", netns=keep_pod)


def test_gc_leaves_other_networks_alone(node: Node) -> None:
    add_pod(node, "mine")
    other = node.conf(name="othernet", bridge="cni9")
    other["ipam"]["subnet"] = "10.9.0.0/24"
    call = node.run("ADD", other, "theirs", node.namespaces.new("pod"))
    assert call.exit == 0, call.stdout
    node.run("GC", node.conf(**{"cni.dev/valid-attachments": []}))
    assert node.reservations("othernet") == {"10.9.0.2": "theirs/eth0"}
    assert len(host_veths(node)) == 1


def test_status_ok_then_50_when_the_pool_is_exhausted(node: Node) -> None:
    conf = node.conf()
    conf["ipam"].update(rangeStart="10.244.0.2", rangeEnd="10.244.0.3")
    assert node.run("STATUS", conf).exit == 0
    add_pod(node, "s1", ipam=conf["ipam"])
    add_pod(node, "s2", ipam=conf["ipam"])
    call = node.run("STATUS", conf)
    assert (call.exit, call.json["code"]) == (1, 50)
    assert "exhausted" in call.json["msg"]


def test_status_50_when_the_store_is_not_writable(node: Node) -> None:
    conf = node.conf()
    conf["ipam"]["dataDir"] = "/proc/cnilab-not-writable"
    call = node.run("STATUS", conf)
    assert (call.exit, call.json["code"]) == (1, 50)

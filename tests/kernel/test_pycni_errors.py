"""Bad input gets the spec's error JSON on stdout and leaves nothing behind."""

from __future__ import annotations

import json

import pytest

from lab.kernel.netns import in_netns
from lab.pycni import plugin, steps
from tests.kernel.conftest import Node
from tests.kernel.test_pycni_add import add_pod
from tests.kernel.test_pycni_lifecycle import host_veths, masq_comments

pytestmark = pytest.mark.root


def expect_error(node: Node, code: int, *args: object, **kw: object) -> dict:
    call = node.run(*args, **kw)  # type: ignore[arg-type]
    assert call.exit != 0
    err = json.loads(call.stdout)  # stdout holds exactly one JSON object
    assert err["code"] == code, err
    assert err["msg"]
    assert "Traceback" not in call.stdout + call.stderr
    return err


def test_malformed_json(node: Node) -> None:
    expect_error(node, 6, "ADD", b"{not json", "c1", node.namespaces.new("pod"))


def test_missing_env_var(node: Node) -> None:
    err = expect_error(node, 4, "ADD", node.conf(), "", node.namespaces.new("pod"))
    assert "CNI_CONTAINERID" in err["msg"] + err.get("details", "")


def test_unknown_command(node: Node) -> None:
    expect_error(node, 4, "FROB", node.conf(), "c1", node.namespaces.new("pod"))


def test_unsupported_version(node: Node) -> None:
    expect_error(node, 1, "ADD", node.conf(cniVersion="0.2.0"), "c1", node.namespaces.new("pod"))


@pytest.mark.parametrize(
    ("ipam", "words"),
    [
        ({"subnet": "10.244.0.0/33"}, "invalid subnet"),
        ({"subnet": "10.244.0.300/24"}, "invalid subnet"),
        ({"subnet": "10.244.0.0/31"}, "too small"),
        ({"subnet": "10.244.0.0/24", "rangeStart": "10.245.0.5"}, "outside"),
        ({"subnet": "10.244.0.0/24", "gateway": "nonsense"}, "invalid IP"),
        ({}, "needs"),
    ],
)
def test_bad_ipam_config(node: Node, ipam: dict, words: str) -> None:
    conf = node.conf(ipam={"type": "pycni-ipam", "dataDir": str(node.data_dir), **ipam})
    err = expect_error(node, 7, "ADD", conf, "c1", node.namespaces.new("pod"))
    assert words in err["msg"]
    assert host_veths(node) == []


@pytest.mark.parametrize(
    "over",
    [{"bridge": "a-bridge-name-too-long"}, {"mtu": 10}, {"name": "bad name"}, {"ipam": {}}],
)
def test_bad_plugin_config(node: Node, over: dict) -> None:
    expect_error(node, 7, "ADD", node.conf(**over), "c1", node.namespaces.new("pod"))


def test_missing_netns_path(node: Node) -> None:
    expect_error(node, 3, "ADD", node.conf(), "c1", "/run/netns/pytest-does-not-exist")
    assert node.reservations() == {}


def test_ifname_over_15_characters(node: Node) -> None:
    pod = node.namespaces.new("pod")
    expect_error(node, 4, "ADD", node.conf(), "c1", pod, ifname="eth0123456789abc")


def test_exhausted_pool(node: Node) -> None:
    ipam = {
        "type": "pycni-ipam",
        "subnet": "10.244.0.0/30",  # .1 gateway, .2 the only pod address
        "dataDir": str(node.data_dir),
    }
    add_pod(node, "first", ipam=ipam)
    err = expect_error(node, 11, "ADD", node.conf(ipam=ipam), "second", node.namespaces.new("pod"))
    assert "no IP addresses available" in err["msg"]
    assert len(host_veths(node)) == 1


def test_existing_interface_is_an_error_and_is_kept(node: Node) -> None:
    pod, _ = add_pod(node, "dup")
    err = expect_error(node, 4, "ADD", node.conf(), "other", pod)
    assert "already exists" in err["msg"]
    assert "10.244.0.2" in node.sh("ip", "addr", "show", "eth0", netns=pod)
    assert node.reservations() == {"10.244.0.2": "dup/eth0"}


def test_failing_route_rolls_back_veth_and_address(node: Node) -> None:
    pod, _ = add_pod(node, "route")
    conf = node.conf(name="second", bridge="cni1")  # a 2nd default route: EEXIST in the pod
    conf["ipam"]["subnet"] = "10.99.0.0/24"
    err = expect_error(node, 999, "ADD", conf, "route", pod, ifname="eth1")
    assert "failed to configure 'eth1'" in err["msg"]
    assert "eth1" not in node.sh("ip", "link", netns=pod)
    assert node.reservations("second") == {}
    assert len(host_veths(node)) == 1


@pytest.mark.parametrize("failing_step", ["attach_veth", "configure_iface", "setup_masquerade"])
def test_forced_failure_mid_add_leaves_nothing(
    node: Node, monkeypatch: pytest.MonkeyPatch, failing_step: str, capsys: pytest.CaptureFixture
) -> None:
    """bridge's debugPostIPAMError, done the Python way: one named step raises."""

    def boom(*_: object, **__: object) -> None:
        raise OSError(5, "injected failure")

    monkeypatch.setattr(steps, failing_step, boom)
    pod = node.namespaces.new("pod")
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "boom",
        "CNI_NETNS": f"/run/netns/{pod}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(node.bin_dir),
    }
    with in_netns(node.path):
        code = plugin.run(json.dumps(node.conf(ipMasq=True)).encode(), env)
    assert code == 1
    assert json.loads(capsys.readouterr().out)["code"] == 999
    assert host_veths(node) == []
    assert "eth0" not in node.sh("ip", "link", netns=pod)
    assert node.reservations() == {}
    assert masq_comments(node) == []

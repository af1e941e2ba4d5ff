"""A failed ADD takes back what it made: the bridge too, when this call created it."""

from __future__ import annotations

import io
import json

import pytest

from lab.cni.errors import CNIError, ErrorCode
from lab.kernel.netns import in_netns
from lab.pycni import plugin, steps
from tests.kernel.conftest import Node
from tests.kernel.test_pycni_lifecycle import host_veths

pytestmark = pytest.mark.root


def bridges(node: Node) -> list[str]:
    out = node.sh("ip", "-o", "link", "show", "type", "bridge")
    return [line.split(":")[1].strip() for line in out.splitlines() if line]


def add_in_process(node: Node, pod: str, conf: dict) -> tuple[int, dict]:
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "rb",
        "CNI_NETNS": f"/run/netns/{pod}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(node.bin_dir),
    }
    out = io.StringIO()
    with in_netns(node.path):
        code = plugin.run(json.dumps(conf).encode(), env, stdout=out, stderr=io.StringIO())
    return code, json.loads(out.getvalue())


def test_bad_ipam_config_fails_before_the_bridge_exists(node: Node) -> None:
    conf = node.conf()
    conf["ipam"]["subnet"] = "10.244.0.0/33"
    call = node.run("ADD", conf, "c1", node.namespaces.new("pod"))
    assert call.exit == 1 and call.json["code"] == 7, call.stdout
    assert bridges(node) == []


def test_failure_after_the_bridge_removes_the_bridge_it_made(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*_: object) -> None:
        raise CNIError(ErrorCode.TRY_AGAIN_LATER, "no IP addresses available")

    monkeypatch.setattr(plugin, "ipam_add", exhausted)
    code, err = add_in_process(node, node.namespaces.new("pod"), node.conf())
    assert (code, err["code"]) == (1, 11)
    assert bridges(node) == []


def test_failure_keeps_a_bridge_that_was_there(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    node.sh("ip", "link", "add", "cni0", "type", "bridge")

    def exhausted(*_: object) -> None:
        raise CNIError(ErrorCode.TRY_AGAIN_LATER, "no IP addresses available")

    monkeypatch.setattr(plugin, "ipam_add", exhausted)
    code, _ = add_in_process(node, node.namespaces.new("pod"), node.conf())
    assert code == 1
    assert bridges(node) == ["cni0"]


def test_a_failing_undo_never_hides_the_first_error(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object, **__: object) -> None:
        raise OSError(5, "injected failure")

    def undo_fails(*_: object) -> None:
        raise RuntimeError("undo failed too")

    monkeypatch.setattr(steps, "configure_iface", boom)
    monkeypatch.setattr(steps, "remove_unused_bridge", undo_fails)
    code, err = add_in_process(node, node.namespaces.new("pod"), node.conf())
    assert code == 1
    assert err["code"] == 999 and "injected failure" in err["msg"], err
    assert host_veths(node) == []
    assert node.reservations() == {}


def test_netns_path_too_long_is_code_3(node: Node) -> None:
    call = node.run("ADD", node.conf(), "c1", "/run/netns/" + "x" * 300)
    assert call.exit == 1 and call.json["code"] == 3, call.stdout
    assert "Traceback" not in call.stderr
    assert bridges(node) == []

"""A failed ADD takes back what it made: the bridge too, when this call created it."""

from __future__ import annotations

import io
import json

import pytest

from lab.cni.errors import CNIError, ErrorCode
from lab.kernel import links, masquerade
from lab.kernel.netns import in_netns
from lab.pycni import plugin, steps
from tests.kernel.conftest import Node
from tests.kernel.test_pycni_lifecycle import host_veths, masq_comments

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


# Every step of ADD after the bridge, in order; a failure at any of them takes back
# everything made before it (the gateway address and forwarding are the node's, kept).
ADD_STEPS = [
    (plugin, "ipam_add"),
    (steps, "setup_veth"),
    (steps, "attach_veth"),
    (steps, "configure_iface"),
    (steps, "ensure_gateway_addr"),
    (steps, "enable_forwarding"),
    (steps, "setup_masquerade"),
    (steps, "build_interfaces"),
]


def fail_after(real: object) -> object:
    """The real step, then a failure: the step's resource exists when the error comes."""

    def step(*args: object, **kw: object) -> object:
        real(*args, **kw)  # type: ignore[operator]
        raise OSError(5, f"injected after {real.__name__}")  # type: ignore[attr-defined]

    return step


def nothing_left(node: Node, pod: str) -> None:
    assert host_veths(node) == []
    assert node.reservations() == {}
    assert masq_comments(node) == []
    assert bridges(node) == []
    assert "eth0" not in node.sh("ip", "link", netns=pod)


@pytest.mark.parametrize(("owner", "name"), ADD_STEPS, ids=[n for _, n in ADD_STEPS])
def test_a_failure_right_after_each_step_leaves_nothing(
    node: Node, monkeypatch: pytest.MonkeyPatch, owner: object, name: str
) -> None:
    monkeypatch.setattr(owner, name, fail_after(getattr(owner, name)))
    pod = node.namespaces.new("pod")
    code, err = add_in_process(node, pod, node.conf(ipMasq=True))
    assert code == 1 and f"injected after {name}" in err["msg"], err
    nothing_left(node, pod)


# Each undo ADD registers, where it is looked up when the undo runs.
UNDOS = [
    (steps, "remove_unused_bridge"),
    (plugin, "ipam_del"),
    (links, "delete_link"),
    (masquerade, "remove_masquerade"),
]


@pytest.mark.parametrize(("owner", "name"), UNDOS, ids=[n for _, n in UNDOS])
def test_a_failing_undo_is_logged_and_the_other_undos_still_run(
    node: Node, monkeypatch: pytest.MonkeyPatch, owner: object, name: str
) -> None:
    def undo_fails(*_: object, **__: object) -> None:
        raise RuntimeError(f"{name} failed too")

    monkeypatch.setattr(
        steps, "build_interfaces", fail_after(steps.build_interfaces)
    )  # the last step: every undo is registered
    monkeypatch.setattr(owner, name, undo_fails)
    pod = node.namespaces.new("pod")
    code, err = add_in_process(node, pod, node.conf(ipMasq=True))
    assert code == 1 and "injected after build_interfaces" in err["msg"], err
    assert f"{name} failed too" in node.log_file.read_text()
    left = {
        "veth": bool(host_veths(node)),
        "reservation": bool(node.reservations()),
        "rule": bool(masq_comments(node)),
    }
    expected = {
        "veth": name == "delete_link",
        "reservation": name == "ipam_del",
        "rule": name == "remove_masquerade",
    }
    assert left == expected
    # the bridge goes unless its port could not be removed, or its own undo failed
    assert bridges(node) == (["cni0"] if name in ("delete_link", "remove_unused_bridge") else [])


def test_a_host_veth_of_the_same_name_is_refused_and_survives(node: Node) -> None:
    from lab.pycni.naming import host_veth_name

    name = host_veth_name("rb", "eth0")
    node.sh("ip", "link", "add", name, "type", "veth", "peer", "name", "decoy")
    code, err = add_in_process(node, node.namespaces.new("pod"), node.conf(ipMasq=True))
    assert code == 1 and "already exists" in err["msg"], err
    assert sorted(host_veths(node)) == sorted([name, "decoy"])
    assert node.reservations() == {}
    assert masq_comments(node) == []

"""`cnilab node init`: idempotent, exactly undone, strict about what it is told."""

from __future__ import annotations

import json

import pytest

from tests.node.conftest import Host, assert_same_state, cnilab

pytestmark = pytest.mark.root


def undo_args(host: Host) -> list[str]:
    return ["node", "init", "--netns", host.netns, "--state-file", str(host.state_file), "--undo"]


@pytest.mark.parametrize("firewall", ["open", "drop"])
def test_init_twice_changes_nothing_and_undo_restores_exactly(
    hosts: tuple[Host, Host], firewall: str
) -> None:
    h1, h2 = hosts
    if firewall == "drop":
        h1.close_forwarding()
    pristine = h1.snapshot()
    cnilab(*h1.init_args(h2))
    once = h1.snapshot()
    record = h1.state_file.read_text()
    assert once["sysctls"]["ip_forward"] == "1\n"  # type: ignore[index]
    assert f"{h2.pod_cidr} via {h2.ip} dev eth1" in once["routes"]  # type: ignore[operator]
    assert "inet 10.244.0.1/24" in once["addrs"]  # type: ignore[operator]
    assert "masquerade" in once["nft"]  # type: ignore[operator]
    if firewall == "drop":
        assert '-A FORWARD -s 10.244.0.0/16 -m comment --comment "cnilab: pod network"' in str(
            once["iptables"]
        )
        assert 'ip saddr 10.244.0.0/16 accept comment "cnilab: pod network"' in once["nft"]  # type: ignore[operator]

    cnilab(*h1.init_args(h2))
    assert_same_state(h1.snapshot(), once)
    assert h1.state_file.read_text() == record  # the first run's "before" is kept

    assert cnilab(*undo_args(h1)).stdout.startswith("restored")
    assert_same_state(h1.snapshot(), pristine)
    assert not h1.state_file.exists()
    assert cnilab(*undo_args(h1)).stdout.strip() == "nothing to undo"


def test_undo_puts_back_what_init_replaced(hosts: tuple[Host, Host]) -> None:
    """A route to the peer's CIDR, a bridge and forwarding that were there before stay."""
    h1, h2 = hosts
    h1.sh("ip", "route", "add", h2.pod_cidr, "via", "192.168.56.99", "proto", "boot")
    h1.sh("ip", "link", "add", "cni0", "type", "bridge")
    h1.sh("ip", "addr", "add", "172.16.0.1/24", "dev", "cni0")
    h1.sh("ip", "link", "set", "cni0", "up")  # one never up shows qdisc noop until it is
    h1.sh("sysctl", "-qw", "net.ipv4.conf.eth1.forwarding=1")
    pristine = h1.snapshot()
    cnilab(*h1.init_args(h2))
    after = h1.snapshot()
    assert f"{h2.pod_cidr} via {h2.ip}" in after["routes"]  # type: ignore[operator]
    assert "192.168.56.99" not in after["routes"]  # type: ignore[operator]
    cnilab(*undo_args(h1))
    assert_same_state(h1.snapshot(), pristine)


def test_peers_join_and_leave(hosts: tuple[Host, Host]) -> None:
    h1, h2 = hosts
    pristine = h1.snapshot()
    cnilab(*h1.init_args(h2))
    third = ["--peer", "10.244.2.0/24=192.168.56.13"]
    cnilab(*h1.init_args(h2), *third)
    routes = h1.sh("ip", "route")
    assert "10.244.2.0/24 via 192.168.56.13" in routes and "10.244.1.0/24 via" in routes
    cnilab(*h1.init_args(), *third)  # node2 left
    routes = h1.sh("ip", "route")
    assert "10.244.1.0/24" not in routes and "10.244.2.0/24 via 192.168.56.13" in routes
    assert list(json.loads(h1.state_file.read_text())["before"]["routes"]) == ["10.244.2.0/24"]
    cnilab(*undo_args(h1))
    assert_same_state(h1.snapshot(), pristine)


def test_undo_keeps_a_bridge_with_pods_unless_forced(hosts: tuple[Host, Host]) -> None:
    h1, h2 = hosts
    cnilab(*h1.init_args(h2))
    h1.sh("ip", "link", "add", "vethpod", "type", "veth", "peer", "name", "podeth0")
    h1.sh("ip", "link", "set", "vethpod", "master", "cni0")
    refused = cnilab(*undo_args(h1), check=False)
    assert refused.returncode == 1 and "still has pods plugged in (vethpod)" in refused.stderr
    assert h1.state_file.exists() and "cni0" in h1.sh("ip", "link")
    cnilab(*undo_args(h1), "--force")
    assert "cni0" not in h1.sh("ip", "link")


def test_a_different_node_needs_undo_first(hosts: tuple[Host, Host]) -> None:
    h1, h2 = hosts
    cnilab(*h1.init_args(h2))
    args = h1.init_args(h2)
    args[args.index("--pod-cidr") + 1] = "10.244.5.0/24"
    out = cnilab(*args, check=False)
    assert out.returncode == 1 and "run `cnilab node init --undo` first" in out.stderr
    assert "10.244.5" not in h1.sh("ip", "addr")


BAD = [
    (["--pod-cidr", "10.244.0.1/24"], 2, "has host bits set; did you mean 10.244.0.0/24?"),
    (["--pod-cidr", "10.244.0.0"], 2, "is not a CIDR"),
    (["--pod-cidr", "banana/24"], 2, "is not a CIDR"),
    (["--pod-cidr", "fd00::/64"], 2, "IPv6"),
    (["--pod-cidr", "10.245.0.0/24"], 2, "is not inside the pod network 10.244.0.0/16"),
    (["--pod-cidr", "10.244.0.0/31"], 2, "too small"),
    (["--node-ip", "192.168.56.300"], 2, "is not an IP address"),
    (["--node-ip", "192.168.56.50"], 1, "192.168.56.50 is not an address of this host"),
    (["--node-ip", "10.244.3.3"], 2, "inside the pod network"),
    (["--peer", "10.244.1.0/24"], 2, "use POD_CIDR=NODE_IP"),
    (["--peer", "10.244.1.0/24=nowhere"], 2, "is not an IP address"),
    (["--peer", "10.244.0.0/23=192.168.56.12"], 2, "overlaps this node's --pod-cidr"),
    (["--peer", "10.244.1.0/24=192.168.56.11"], 2, "192.168.56.11 is already --node-ip"),
    (["--peer", "10.244.1.0/24=10.0.3.1"], 1, "is not on 192.168.56.0/24"),
    (["--pod-network", "10.244.0.0/33"], 2, "is not a CIDR"),
    (["--bridge", "a-very-long-bridge-name"], 2, "invalid interface name"),
    (["--bridge", "eth1"], 1, "a veth of that name exists"),
]


@pytest.mark.parametrize(("change", "code", "message"), BAD)
def test_bad_input_is_refused_before_anything_changes(
    hosts: tuple[Host, Host], change: list[str], code: int, message: str
) -> None:
    h1, _ = hosts
    pristine = h1.snapshot()
    args = h1.init_args()
    option, value = change
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += change
    out = cnilab(*args, check=False)
    assert (out.returncode, message in out.stderr) == (code, True), out.stderr
    assert not h1.state_file.exists()
    assert_same_state(h1.snapshot(), pristine)


def test_unknown_namespace_and_missing_options(tmp_path: object) -> None:
    out = cnilab("node", "init", "--netns", "pytest-no-such-ns", "--undo", check=False)
    assert out.returncode == 2 and "no network namespace 'pytest-no-such-ns'" in out.stderr
    out = cnilab("node", "init", "--netns", "pytest-no-such-ns", check=False)
    assert out.returncode == 2
    out = cnilab("node", "init", "--state-file", "/nonexistent/x.json", check=False)
    assert out.returncode == 2 and "--pod-cidr and --node-ip are required" in out.stderr


def test_a_state_file_that_is_not_ours_is_refused(hosts: tuple[Host, Host]) -> None:
    h1, h2 = hosts
    h1.state_file.write_text('{"something": "else"}')
    for args in (undo_args(h1), h1.init_args(h2)):
        out = cnilab(*args, check=False)
        assert out.returncode == 1 and "is not a state file of cnilab node init" in out.stderr
    assert h1.state_file.read_text() == '{"something": "else"}'

"""Two "hosts" made nodes by `cnilab node init` + `cnilab install`; pods on them ping.

The pods are attached the way a runtime on a real node would do it: libcni's shape
(CNIConfig + select_network) over the files `cnilab install` wrote, the plugins run
inside the host's namespace with the real CNI_* environment.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from lab.kernel.netns import set_loopback_up
from lab.runtime.confs import select_network
from lab.runtime.libcni import CNIConfig, RuntimeConf
from tests.conftest import Namespaces
from tests.node.conftest import Host, assert_same_state, cnilab

pytestmark = pytest.mark.root


class NodeRuntime:
    """What containerd does for CNI on one node, reduced to ADD and DEL."""

    def __init__(self, host: Host, bin_dir: Path, namespaces: Namespaces) -> None:
        self.host = host
        self.cni = CNIConfig([str(bin_dir)], str(host.cache_dir), node_netns=host.path)
        self.net = select_network(host.conf_dir, [str(bin_dir)])
        self.namespaces = namespaces

    def add(self) -> tuple[RuntimeConf, str]:
        pod = self.namespaces.new("pod")
        set_loopback_up(f"/run/netns/{pod}")
        rt = RuntimeConf(f"pt-{uuid.uuid4().hex[:12]}", f"/run/netns/{pod}", "eth0")
        result = self.cni.add_network_list(self.net, rt)
        return rt, result["ips"][0]["address"].split("/")[0]

    def delete(self, rt: RuntimeConf) -> None:
        self.cni.del_network_list(self.net, rt)


def ping(netns_path: str, address: str, host: Host) -> str:
    return host.sh("nsenter", f"--net={netns_path}", "ping", "-c1", "-W2", address)


@pytest.mark.parametrize("firewall", ["open", "drop"])
def test_pods_on_two_hosts_ping_each_other(
    hosts: tuple[Host, Host], namespaces: Namespaces, tmp_path: Path, firewall: str
) -> None:
    h1, h2 = hosts
    if firewall == "drop":
        for host in hosts:
            host.close_forwarding()
    before = {host.netns: host.snapshot() for host in hosts}
    bin_dir = tmp_path / "bin"
    for host, peer in ((h1, h2), (h2, h1)):
        out = cnilab(*host.init_args(peer)).stdout
        assert f"route {peer.pod_cidr} via {peer.ip}" in out
        assert ("accept 10.244.0.0/16 in iptables FORWARD" in out) == (firewall == "drop")
        cnilab(*host.install_args(bin_dir))

    conf = json.loads((h1.conf_dir / "10-pycni.conflist").read_text())
    assert conf["plugins"][0]["ipam"]["subnet"] == "10.244.0.0/24"
    r1, r2 = NodeRuntime(h1, bin_dir, namespaces), NodeRuntime(h2, bin_dir, namespaces)
    a, a_ip = r1.add()
    b, b_ip = r2.add()
    c, c_ip = r1.add()
    assert (a_ip, b_ip, c_ip) == ("10.244.0.2", "10.244.1.2", "10.244.0.3")

    assert "ttl=62" in ping(a.netns, b_ip, h1)  # two routers: host1, then host2
    assert "ttl=62" in ping(b.netns, c_ip, h1)
    assert "ttl=64" in ping(a.netns, c_ip, h1)  # same bridge: no router
    # Leaving the pod network, a pod's traffic is masqueraded: host2 answers host1's
    # address, so the reply comes back even with host2's route to host1's pods gone.
    h2.sh("ip", "route", "del", h1.pod_cidr)
    assert "ttl=63" in ping(a.netns, h2.ip, h1)
    h2.sh("ip", "route", "add", h1.pod_cidr, "via", h1.ip, "proto", "static")
    assert "0 received" not in ping(b.netns, "10.244.0.1", h1)

    for runtime, rt in ((r1, a), (r2, b), (r1, c)):
        runtime.delete(rt)
    assert not list((h1.folder / "ipam" / "cnilab").glob("10.*"))
    for host in hosts:
        cnilab(
            "node", "init", "--netns", host.netns, "--state-file", str(host.state_file), "--undo"
        )
        assert_same_state(host.snapshot(), before[host.netns])
        assert not host.state_file.exists()


def test_cnilab_node_pod_attaches_pods_without_a_runtime(
    hosts: tuple[Host, Host], namespaces: Namespaces, tmp_path: Path
) -> None:
    """`cnilab node pod add|del`: what the Vagrant VMs use for pods, through the same files."""
    bin_dir = tmp_path / "bin"
    prefix = f"{namespaces.prefix}-"
    for host, peer in (hosts, hosts[::-1]):
        cnilab(*host.init_args(peer))
        cnilab(*host.install_args(bin_dir))

    def pod(verb: str, name: str, host: Host) -> str:
        if verb == "add":
            namespaces.names.append(f"{prefix}{name}")  # removed at the end, even on failure
        where = ["--netns", host.netns, "--bin-dir", str(bin_dir), "--conf-dir", str(host.conf_dir)]
        where += ["--cache-dir", str(host.cache_dir), "--prefix", prefix]
        return cnilab("node", "pod", verb, name, *where).stdout

    assert "pod web: 10.244.0.2/24" in pod("add", "web", hosts[0])
    assert "pod db: 10.244.1.2/24" in pod("add", "db", hosts[1])
    assert "ttl=62" in ping(f"/run/netns/{prefix}web", "10.244.1.2", hosts[0])
    assert list((hosts[0].cache_dir / "results").iterdir())
    assert pod("del", "web", hosts[0]).strip() == "deleted pod web"
    assert pod("del", "web", hosts[0]).strip() == "no pod web"
    assert not Path(f"/run/netns/{prefix}web").exists()
    assert not list((hosts[0].folder / "ipam" / "cnilab").glob("10.*"))
    assert not list((hosts[0].cache_dir / "results").iterdir())

"""Step 12: the student's plugin after pycni in a chain, through the runtime.

Each network's chain asks for its own MTU, none of them 1400 or 1500: the pod network's
is 1450 on node1 and 1410 on node2, and the secondary network's (a pod's eth1) is 1300.
So a hard-coded MTU, or an MTU set on eth0 whatever CNI_IFNAME says, shows. The runtime
caches only the last plugin's answer, so the cached result must still be pycni's. DEL
runs the chain backwards, the student's plugin first: it must succeed, even after the
pod's namespace is gone, or pycni's DEL never runs and the pod's address leaks.

The conflists are written only for the check, under names that sort before the lab's
own, and always removed at the end; the checker then removes the pods.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from lab.cluster.plan import SECONDARY_CONF_FILE, SECONDARY_NAME, Node
from lab.exercises.checker import Checker
from lab.kernel.netns import delete_netns
from lab.pycni.ipam.store import DiskStore
from lab.runtime import cache
from lab.runtime.pods import Pod
from lab.runtime.student import student_bin_dir

TYPE = "ex12-mtu"  # the executable the runtime finds in CNI_PATH: your file
MAIN_CONF, SECOND_CONF = "05-ex12.conflist", "15-ex12-secondary.conflist"  # sort first
MTU = {"node1": 1450, "node2": 1410}  # the pod network's, per node
SECOND_MTU = 1300  # the secondary network's, for eth1


def _chain(node: Node, file: str, mtu: int) -> dict[str, Any]:
    """The lab's conflist `file` with the student's plugin after pycni."""
    conflist = json.loads(Path(node.conf_dir, file).read_text())
    return {**conflist, "plugins": [*conflist["plugins"], {"type": TYPE, "mtu": mtu}]}


def _link(c: Checker, pod: Pod, ifname: str) -> dict[str, Any]:
    out = c.sh(pod.netns, "ip", "-j", "addr", "show", ifname)
    c.expect(out.returncode == 0, f"{pod.name} has no {ifname}")
    return json.loads(out.stdout)[0]  # type: ignore[no-any-return]


def _inet(link: dict[str, Any]) -> str:
    inet = [a for a in link.get("addr_info", []) if a["family"] == "inet"]
    return f"{inet[0]['local']}/{inet[0]['prefixlen']}" if inet else ""


def _stores(c: Checker) -> list[tuple[str, str]]:
    return [(n.ipam_dir, net) for n in c.plan.nodes for net in (_network(c, n), SECONDARY_NAME)]


def _network(c: Checker, node: Node) -> str:
    return str(c.node_conf(node.name)["name"])


def _reserved(c: Checker, address: str) -> bool:
    ip = ipaddress.ip_interface(address).ip
    for data_dir, network in _stores(c):
        with DiskStore(data_dir, network) as store:
            if ip in store.reservations():
                return True
    return False


def _release_leaked(c: Checker, before: set[tuple[str, Any]]) -> None:
    """After a failed ADD the runtime's DEL stops at the first plugin that fails (yours
    runs first), so pycni's DEL may never have released the address it had reserved."""
    live = {pod.container_id for pod in c.runtime.list()}
    for data_dir, network in _stores(c):
        with DiskStore(data_dir, network) as store:
            for ip, (cid, _ifname) in store.reservations().items():
                if (data_dir, ip) not in before and cid not in live:
                    store.release(ip)


def _reservations(c: Checker) -> set[tuple[str, Any]]:
    found = set()
    for data_dir, network in _stores(c):
        with DiskStore(data_dir, network) as store:
            found |= {(data_dir, ip) for ip in store.reservations()}
    return found


def check(c: Checker) -> None:
    bin_dir = str(student_bin_dir(c.plan, str(c.file), plugin_type=TYPE))
    written = []
    for node in c.plan.nodes[:2]:
        path = Path(node.conf_dir, MAIN_CONF)
        path.write_text(json.dumps(_chain(node, "10-pycni.conflist", MTU[node.name]), indent=2))
        written.append(path)
    node1 = c.plan.node("node1")
    second = Path(node1.conf_dir, SECOND_CONF)
    second.write_text(json.dumps(_chain(node1, SECONDARY_CONF_FILE, SECOND_MTU), indent=2))
    written.append(second)
    before = _reservations(c)
    try:
        _check(c, bin_dir)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
        _release_leaked(c, before)


def _check(c: Checker, bin_dir: str) -> None:
    node1 = c.plan.node("node1")
    mtu = MTU["node1"]
    with c.step("the runtime runs pycni, then your plugin, and ADD succeeds", hint=1):
        pod = c.runtime.add(c.pod_name("a"), "node1", extra_path=[bin_dir])

    with c.step(f"eth0 has the MTU its network's chain asks for on node1, {mtu}", hint=2):
        eth0 = _link(c, pod, "eth0")
        c.expect(eth0.get("mtu") == mtu, f"eth0's MTU is {eth0.get('mtu')}, not {mtu}")

    network = _network(c, node1)
    entry = cache.load(node1.cache_dir, network, pod.container_id, "eth0") or {}
    result = entry.get("result") or {}
    with c.step("the cached result is still pycni's: its interfaces and address", hint=3):
        names = [i.get("name") for i in result.get("interfaces", [])]
        c.expect(
            "eth0" in names and "cni0" in names,
            f"the runtime cached interfaces {names}: pycni reported cni0, a veth and eth0. "
            "Your answer replaced pycni's instead of passing it on",
        )
        ips = [ip.get("address") for ip in result.get("ips", [])]
        c.expect(
            _inet(eth0) in ips,
            f"the runtime cached addresses {ips}, but eth0 has {_inet(eth0)}: "
            "kubelet would not know the pod's IP",
        )
    with c.step("the cached result tells eth0's new MTU", hint=3):
        told = [i.get("mtu") for i in result.get("interfaces", []) if i.get("name") == "eth0"]
        c.expect(
            told == [mtu],
            f"the cached result says eth0's MTU is {told[0] if told else None}, "
            f"but you set {mtu}: amend what you changed in the result you pass on",
        )

    with c.step(f"a pod on node2 gets node2's MTU, {MTU['node2']}", hint=2):
        other = c.runtime.add(c.pod_name("b"), "node2", extra_path=[bin_dir])
        got = _link(c, other, "eth0").get("mtu")
        c.expect(got == MTU["node2"], f"eth0 on node2 has MTU {got}, not {MTU['node2']}")

    with c.step(f"eth1, on a network whose chain asks for {SECOND_MTU}, gets it", hint=2):
        c.runtime.add(pod.name, "node1", ifname="eth1", extra_path=[bin_dir])
        eth1, eth0 = _link(c, pod, "eth1"), _link(c, pod, "eth0")
        address = _inet(eth1)
        c.expect(
            address
            and ipaddress.ip_interface(address).ip in ipaddress.ip_network(node1.secondary_cidr),
            f"eth1 has {address or 'no address'}, not one of {node1.secondary_cidr}",
        )
        c.expect(
            (eth1.get("mtu"), eth0.get("mtu")) == (SECOND_MTU, mtu),
            f"after eth1's ADD, eth1 has MTU {eth1.get('mtu')} and eth0 {eth0.get('mtu')}: "
            f"the {SECONDARY_NAME} chain ran with CNI_IFNAME=eth1 and mtu {SECOND_MTU}",
        )

    with c.step("the runtime's DEL runs your DEL, then pycni's, for eth1 and eth0", hint=4):
        addresses = [_inet(eth0), address]
        c.runtime.delete(pod.name)
        held = [a for a in addresses if _reserved(c, a)]
        c.expect(not held, f"DEL succeeded, but {', '.join(held)} is still reserved")

    with c.step("DEL succeeds after the pod's namespace is gone, and frees its address", hint=4):
        address = _inet(_link(c, other, "eth0"))
        delete_netns(other.netns)  # a crashed runtime, a rebooted node: the namespace is gone
        c.runtime.delete(other.name)
        c.expect(not _reserved(c, address), f"DEL succeeded, but {address} is still reserved")

"""Step 10: the node's network with one more plugin in its chain (pycni, then the
student's), a pod made through it by the runtime, then a second interface (eth1) on
the secondary network.

The conflist is written only for the check, under a name that sorts before the lab's
own, and always removed at the end. Outside the check the runtime cannot find the
student's plugin, so it skips that file and the node's pods use the lab's config.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from lab.cluster.plan import SECONDARY_NAME, Node
from lab.exercises.checker import Checker
from lab.pycni.ipam.store import DiskStore, IPAddress
from lab.runtime import cache
from lab.runtime.student import student_bin_dir

NODE = "node1"
TYPE = "ex10-mtu"  # the executable the runtime finds in CNI_PATH: your file
CONF_FILE = "05-ex10.conflist"  # sorts before 10-pycni.conflist: the runtime picks it first
MTU = 1400


def _link(c: Checker, netns: str, ifname: str) -> dict:
    out = c.sh(netns, "ip", "-j", "addr", "show", ifname)
    c.expect(out.returncode == 0, f"the pod has no {ifname}")
    return json.loads(out.stdout)[0]


def _inet(link: dict) -> str:
    inet = [a for a in link.get("addr_info", []) if a["family"] == "inet"]
    return f"{inet[0]['local']}/{inet[0]['prefixlen']}" if inet else ""


def _reserved(node: Node, network: str) -> set[IPAddress]:
    with DiskStore(node.ipam_dir, network) as store:
        return set(store.reservations())


def _release_new(c: Checker, node: Node, network: str, before: set[IPAddress]) -> None:
    """After a failed ADD the runtime's DEL stops at the first plugin that fails (yours runs
    first), so pycni's DEL may never have released the address it had reserved."""
    live = {pod.container_id for pod in c.runtime.list()}
    with DiskStore(node.ipam_dir, network) as store:
        for ip, (cid, _ifname) in store.reservations().items():
            if ip not in before and cid not in live:
                store.release(ip)


def check(c: Checker) -> None:
    node = c.plan.node(NODE)
    pycni = c.node_conf(NODE)  # the lab's pycni entry, as is (isGateway, ipam...)
    network, version = pycni.pop("name"), pycni.pop("cniVersion")
    conflist = {
        "cniVersion": version,
        "name": network,  # the same network, with one more plugin in its chain
        "plugins": [pycni, {"type": TYPE, "mtu": MTU}],
    }
    bin_dir = student_bin_dir(c.plan, str(c.file), plugin_type=TYPE)
    conf_path = Path(node.conf_dir, CONF_FILE)
    reserved = _reserved(node, network)
    conf_path.write_text(json.dumps(conflist, indent=2) + "\n")
    try:
        with c.step("the runtime runs pycni, then your plugin, and ADD succeeds", hint=1):
            pod = c.runtime.add(c.pod_name("a"), NODE, extra_path=[str(bin_dir)])

        with c.step(f"eth0 in the pod has MTU {MTU}", hint=2):
            eth0 = _link(c, pod.netns, "eth0")
            c.expect(eth0.get("mtu") == MTU, f"eth0's MTU is {eth0.get('mtu')}, not {MTU}")

        with c.step("the cached result is still pycni's: interfaces and address", hint=3):
            entry = cache.load(node.cache_dir, network, pod.container_id, "eth0") or {}
            result = entry.get("result") or {}
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

        with c.step("eth1 joins the pod on the secondary network, MTU untouched", hint=4):
            c.runtime.add(pod.name, NODE, ifname="eth1")
            eth1 = _link(c, pod.netns, "eth1")
            address = _inet(eth1)
            c.expect(
                address
                and ipaddress.ip_interface(address).ip in ipaddress.ip_network(node.secondary_cidr),
                f"eth1 has {address or 'no address'}, not one of {node.secondary_cidr}",
            )
            c.expect(
                eth1.get("mtu") != MTU,
                f"eth1 has MTU {MTU} too: the {SECONDARY_NAME} network's chain has no mtu plugin",
            )
    finally:
        conf_path.unlink(missing_ok=True)
        _release_new(c, node, network, reserved)

"""Step 9: DEL through the runtime, DEL twice, DEL after the pod's namespace is gone,
CHECK on a healthy pod and on a broken one. Proof is the kernel and the IPAM store.

Whatever a failed DEL leaked (an address, a namespace, a veth) is removed at the end, and
the pod broken for CHECK is repaired: the student's lab is left as it was found.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from lab.cluster.plan import Node
from lab.cni.invoke import Execution
from lab.exercises.checker import Checker
from lab.kernel.netns import delete_netns
from lab.pycni.ipam.store import DiskStore, IPAddress
from lab.runtime.pods import PodError

NODE = "node1"


def _links(c: Checker, netns: str) -> set[str]:
    return {link["ifname"] for link in json.loads(c.sh(netns, "ip", "-j", "link").stdout or "[]")}


def _why(ex: Execution) -> str:
    try:
        return str(json.loads(ex.stdout).get("msg", ""))
    except ValueError:
        return (ex.stdout or ex.stderr).decode(errors="replace").strip()[-300:]


def _address(result: dict) -> str:
    """The pod's address with its prefix, e.g. 10.244.0.5/24."""
    ips = result.get("ips", [])
    return ips[0]["address"] if ips else ""


def _check_error(c: Checker, pod: str) -> str | None:
    """The runtime's CHECK: None when it passed, else what it said."""
    try:
        c.runtime.check(pod)
    except PodError as e:
        return str(e)
    return None


def _add_by_hand(c: Checker, conf: dict, cid: str, netns: str) -> str:
    ex = c.call("ADD", conf, container_id=cid, netns=netns)
    c.expect(ex.returncode == 0, f"ADD by hand failed: {_why(ex)}")
    return _address(json.loads(ex.stdout))


def _reserved(node: Node, network: str) -> set[IPAddress]:
    with DiskStore(node.ipam_dir, network) as store:
        return set(store.reservations())


def _release_new(c: Checker, node: Node, network: str, before: set[IPAddress]) -> None:
    """Release what was reserved during the check and no pod of the lab owns (a DEL's leak)."""
    live = {pod.container_id for pod in c.runtime.list()}
    with DiskStore(node.ipam_dir, network) as store:
        for ip, (cid, _ifname) in store.reservations().items():
            if ip not in before and cid not in live:
                store.release(ip)


def check(c: Checker) -> None:
    node = c.plan.node(NODE)
    conf = c.node_conf(NODE)
    store = Path(node.ipam_dir) / conf["name"]  # host-local's layout: one file per address

    # what a buggy DEL may leave behind: addresses, namespaces made by hand, links
    reserved = _reserved(node, conf["name"])
    by_hand: list[str] = []
    stray: set[str] = set()
    try:
        before = _links(c, node.netns)
        with c.step("the runtime's ADD succeeds with your plugin"):
            pod = c.add_pod("a", NODE)
        made = _links(c, node.netns) - before
        address = _address(pod.attachments[0].result)

        with c.step("the runtime's DEL removes the veth and frees the address", hint=1):
            c.runtime.delete(pod.name)
            stray = made & _links(c, node.netns)
            c.expect(not stray, f"{', '.join(sorted(stray))} is still on node1 after DEL")
            ip = address.split("/")[0]
            c.expect(not (store / ip).exists(), f"{ip} is still reserved in {store} after DEL")

        with c.step("a second DEL of the same pod succeeds too", hint=2):
            cid, netns = secrets.token_hex(32), c.empty_netns("twice")
            by_hand.append(netns)
            _add_by_hand(c, conf, cid, netns)
            for which in ("first", "second"):
                ex = c.call("DEL", conf, container_id=cid, netns=netns)
                c.expect(
                    ex.returncode == 0,
                    f"the {which} DEL failed: {_why(ex)}. A runtime repeats DEL until it "
                    "succeeds: an attachment that is already gone is a success",
                )

        with c.step("DEL after the pod's namespace is gone succeeds and frees the address", hint=3):
            cid, netns = secrets.token_hex(32), c.empty_netns("gone")
            by_hand.append(netns)
            ip = _add_by_hand(c, conf, cid, netns).split("/")[0]
            delete_netns(netns)  # a crashed runtime, a rebooted node: the netns is gone
            ex = c.call("DEL", conf, container_id=cid, netns=netns)
            c.expect(
                ex.returncode == 0,
                f"DEL failed once /run/netns/{netns} was gone: {_why(ex)}. "
                f"kubelet would retry it forever, and {ip} would stay reserved",
            )
            c.expect(
                not (store / ip).exists(), f"DEL succeeded but {ip} is still reserved in {store}"
            )
    finally:  # whatever a failed DEL left: the lab's addresses and links are not for leaking
        _release_new(c, node, conf["name"], reserved)
        for netns in by_hand:
            delete_netns(netns)  # its veth pair goes with it
        for name in stray:
            c.sh(node.netns, "ip", "link", "del", name)

    with c.step("CHECK passes on a healthy pod", hint=4):
        pod = c.add_pod("b", NODE)
        error = _check_error(c, pod.name)
        c.expect(error is None, f"CHECK failed on a pod just made by your ADD: {error}")

    result = pod.attachments[0].result
    address = _address(result)
    c.sh(pod.netns, "ip", "addr", "del", address, "dev", "eth0")
    try:
        with c.step("CHECK fails once the pod's address is gone", hint=5):
            c.expect(
                _check_error(c, pod.name) is not None,
                f"`ip addr del {address} dev eth0` broke the pod, yet CHECK says all is well",
            )
    finally:  # repair the pod: its address and, with it, the default route
        c.sh(pod.netns, "ip", "addr", "add", address, "dev", "eth0")
        for route in result.get("routes", []):
            if route.get("gw"):
                c.sh(pod.netns, "ip", "route", "replace", route["dst"], "via", route["gw"])

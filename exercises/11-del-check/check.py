"""Step 11: DEL and CHECK, judged on the kernel and the IPAM store, among neighbours.

DEL through the runtime; then by hand, as a runtime would (prevResult included), on a
network of the check's own (`ex11`, its store in the check's temp folder) where each
attachment gets an address chosen by the check:
- a pod with eth0 (another network's veth, its address reserved for it) and eth1
  (yours): DEL of eth1 must leave eth0, its reservation and a neighbour pod alone, whose
  address (10.11.0.20) starts with eth1's (10.11.0.2);
- DEL again, then DEL after a pod's namespace is gone;
- CHECK on a healthy eth1 beside another network's eth0, then after each way it can be
  broken by hand: address gone, the same address with another prefix, the reservation
  gone, the interface gone.

Everything is removed at the end by the checker.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from pathlib import Path
from typing import Any

from lab.exercises.checker import Checker
from lab.kernel.netns import delete_netns
from lab.pycni.ipam.store import DiskStore

NODE = "node1"
NETWORK = "ex11"
SUBNET, GATEWAY = "10.11.0.0/24", "10.11.0.1"
ETH1, DECOY_ETH0 = "10.11.0.2", "10.11.0.21"  # the pod whose eth1 is deleted
NEIGHBOUR = "10.11.0.20"  # "10.11.0.2" is a prefix of it
GONE = "10.11.0.30"  # the pod whose namespace disappears
CHECKED, CHECKED_ETH0 = "10.11.0.40", "10.11.0.41"  # the pod CHECK is tried on


def _links(c: Checker, netns: str) -> set[str]:
    return {link["ifname"] for link in json.loads(c.sh(netns, "ip", "-j", "link").stdout or "[]")}


def _why(out: bytes) -> str:
    try:
        return str(json.loads(out).get("msg", ""))
    except (ValueError, AttributeError):
        return out.decode(errors="replace").strip()[-300:]


class Net:
    """The check's own network: configs that pin each attachment's address."""

    def __init__(self, c: Checker) -> None:
        self.c = c
        self.data_dir = str(c.tempdir())
        self.store = Path(self.data_dir, NETWORK)
        self.host_links: list[str] = []  # deleted at the end: a veth outlives its netns a while

    def remove_links(self) -> None:
        for name in self.host_links:
            self.c.sh(self.c.plan.node(NODE).netns, "ip", "link", "del", name)

    def conf(self, ip: str, prev: dict[str, Any] | None = None) -> dict[str, Any]:
        ipam = {"subnet": SUBNET, "rangeStart": ip, "rangeEnd": ip, "dataDir": self.data_dir}
        conf = self.c.node_conf(NODE, name=NETWORK, ipam={"type": "pycni-ipam", **ipam})
        return {**conf, "prevResult": prev} if prev else conf

    def reserved(self, ip: str) -> tuple[str, str] | None:
        """Who holds `ip` in the store, or None."""
        with DiskStore(self.data_dir, NETWORK) as store:
            return store.reservations().get(ipaddress.ip_address(ip))

    def plant(self, ip: str, owner: tuple[str, str]) -> None:
        """A reservation as another plugin's IPAM would have made it."""
        with DiskStore(self.data_dir, NETWORK) as store:
            store.reserve(owner, ipaddress.ip_address(ip), 0)

    def unplant(self, ip: str) -> None:
        with DiskStore(self.data_dir, NETWORK) as store:
            store.release(ipaddress.ip_address(ip))


class Attachment:
    """One by-hand ADD of the student's plugin, and what it answered."""

    def __init__(self, net: Net, suffix: str, ip: str, ifname: str = "eth0") -> None:
        self.net, self.c, self.ip, self.ifname = net, net.c, ip, ifname
        self.netns, self.cid = net.c.empty_netns(suffix), secrets.token_hex(32)
        self.result: dict[str, Any] = {}

    def add(self) -> Attachment:
        ex = self.c.call(
            "ADD",
            self.net.conf(self.ip),
            container_id=self.cid,
            netns=self.netns,
            ifname=self.ifname,
        )
        self.result = self.c.result_of(ex, f"ADD of {self.ifname}")
        self.net.host_links.append(self.host_veth)
        return self

    def run(self, command: str) -> tuple[bool, str]:
        """DEL or CHECK as a runtime calls them: the same config, with prevResult."""
        ex = self.c.call(
            command,
            self.net.conf(self.ip, self.result),
            container_id=self.cid,
            netns=self.netns,
            ifname=self.ifname,
        )
        return ex.returncode == 0, _why(ex.stdout or ex.stderr)

    @property
    def host_veth(self) -> str:
        names = [
            i.get("name", "") for i in self.result.get("interfaces", []) if not i.get("sandbox")
        ]
        return names[0] if names else ""

    def decoy_eth0(self, host_end: str, ip: str) -> None:
        """An eth0 of another network (its host end on the node, its address reserved)."""
        node = self.c.plan.node(NODE).netns
        self.net.host_links.append(host_end)
        self.c.sh(node, "ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
                  "netns", self.netns)  # fmt: skip
        self.c.sh(self.netns, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
        self.c.sh(self.netns, "ip", "link", "set", "eth0", "up")
        self.net.plant(ip, (self.cid, "eth0"))


def _lab_store(c: Checker) -> DiskStore:
    return DiskStore(c.plan.node(NODE).ipam_dir, c.node_conf(NODE)["name"])


def _runtime_del(c: Checker) -> None:
    node = c.plan.node(NODE)
    before = _links(c, node.netns)
    with c.step("the runtime's ADD succeeds with your plugin", hint=1):
        pod = c.add_pod("a", NODE)
        made = _links(c, node.netns) - before
        address = c.result_field(pod.attachments[0].result, "ips", 0, "address")
        ip = ipaddress.ip_interface(address).ip
    with c.step("the runtime's DEL removes your pod's veth pair", hint=1):
        c.runtime.delete(pod.name)
        stray = made & _links(c, node.netns)
        c.expect(not stray, f"{', '.join(sorted(stray))} is still on {NODE} after DEL")
    with c.step("the runtime's DEL frees your pod's address", hint=3), _lab_store(c) as store:
        c.expect(ip not in store.reservations(), f"{ip} is still reserved in {store.dir}")


def _release_leaked(c: Checker, before: set[Any]) -> None:
    """What a DEL that failed or forgot left reserved in the lab's store during the check:
    no pod owns it any more, so the student's lab gets it back."""
    live = {pod.container_id for pod in c.runtime.list()}
    with _lab_store(c) as store:
        for ip, (cid, _ifname) in store.reservations().items():
            if ip not in before and cid not in live:
                store.release(ip)


def check(c: Checker) -> None:
    with _lab_store(c) as store:
        before = set(store.reservations())
    try:
        _runtime_del(c)
    finally:
        _release_leaked(c, before)
    net = Net(c)
    try:
        _check_del(c, net)
        _check_check(c, net)
    finally:
        net.remove_links()


def _check_del(c: Checker, net: Net) -> None:
    node = c.plan.node(NODE)
    with c.step("ADD attaches eth1 to a pod that has eth0, and a neighbour pod", hint=1):
        neighbour = Attachment(net, "nbr", NEIGHBOUR).add()
        two = Attachment(net, "two", ETH1, ifname="eth1")
        two.decoy_eth0("ex11-two0", DECOY_ETH0)
        two.add()
    with c.step("DEL of eth1 succeeds and removes its veth pair", hint=1):
        ok, why = two.run("DEL")
        c.expect(ok, f"DEL of eth1 failed: {why}")
        left = [n for n in (two.host_veth,) if n in _links(c, node.netns)]
        left += ["eth1 in the pod"] if "eth1" in _links(c, two.netns) else []
        c.expect(not left, f"after DEL, {' and '.join(left)} is still there")
    with c.step("DEL of eth1 frees eth1's address", hint=3):
        c.expect(net.reserved(ETH1) is None, f"{ETH1} is still reserved in {net.store} after DEL")
    with c.step("DEL of eth1 leaves the pod's eth0 and a neighbour pod alone", hint=4):
        c.expect(
            net.reserved(DECOY_ETH0) == (two.cid, "eth0"),
            f"DEL of the pod's eth1 released {DECOY_ETH0}, which the same pod holds for eth0: "
            "a reservation belongs to a container AND an interface",
        )
        c.expect(
            net.reserved(NEIGHBOUR) == (neighbour.cid, "eth0"),
            f"DEL of {ETH1} released {NEIGHBOUR}, another pod's address",
        )
        c.expect("eth0" in _links(c, two.netns), "DEL of eth1 deleted the pod's eth0")
        kept = {"ex11-two0", neighbour.host_veth}
        c.expect(
            kept <= _links(c, node.netns),
            f"DEL of eth1 deleted {', '.join(sorted(kept - _links(c, node.netns)))} on {NODE}",
        )

    with c.step("a second DEL of the same attachment succeeds too", hint=2):
        ok, why = two.run("DEL")
        c.expect(
            ok,
            f"the second DEL failed: {why}. A runtime repeats DEL until it succeeds: "
            "an attachment that is already gone is a success",
        )

    with c.step("DEL after the pod's namespace is gone succeeds and frees the address", hint=3):
        gone = Attachment(net, "gone", GONE).add()
        delete_netns(gone.netns)  # a crashed runtime, a rebooted node: the namespace is gone
        ok, why = gone.run("DEL")
        c.expect(
            ok,
            f"DEL failed once /run/netns/{gone.netns} was gone: {why}. "
            f"kubelet would retry it forever, and {GONE} would stay reserved",
        )
        c.expect(net.reserved(GONE) is None, f"DEL succeeded, but {GONE} is still reserved")


def _check_check(c: Checker, net: Net) -> None:
    """CHECK on eth1 of a pod whose eth0 is another network's: healthy, then broken."""
    pod = Attachment(net, "chk", CHECKED, ifname="eth1")
    with c.step("CHECK passes on a healthy eth1 (the pod's eth0 is another network's)", hint=5):
        pod.decoy_eth0("ex11-chk0", CHECKED_ETH0)
        pod.add()
        ok, why = pod.run("CHECK")
        c.expect(ok, f"CHECK failed on eth1 just made by your ADD: {why}")

    def ip(*argv: str) -> None:
        c.sh(pod.netns, "ip", *argv)

    def drop_address() -> None:
        ip("addr", "flush", "dev", "eth1")

    def other_prefix() -> None:
        drop_address()
        ip("addr", "add", f"{CHECKED}/16", "dev", "eth1")

    def restore() -> None:
        drop_address()
        ip("addr", "add", f"{CHECKED}/24", "dev", "eth1")
        ip("route", "replace", "default", "via", GATEWAY, "dev", "eth1")

    breaks = [  # (the assertion, what was done by hand, how, how to undo it, its hint)
        (
            "eth1's address is gone",
            f"`ip addr del {CHECKED}/24 dev eth1`",
            drop_address,
            restore,
            5,
        ),
        (
            "eth1's address has another prefix",
            f"eth1 has {CHECKED}/16, not /24",
            other_prefix,
            restore,
            5,
        ),
        (
            "the IPAM no longer holds eth1's address",
            f"{CHECKED} was released in the IPAM store",
            lambda: net.unplant(CHECKED),
            lambda: net.plant(CHECKED, (pod.cid, "eth1")),
            6,
        ),
        (
            "eth1 is gone",
            "`ip link del eth1` in the pod",
            lambda: ip("link", "del", "eth1"),
            None,
            5,
        ),
    ]
    for name, what, do, undo, hint in breaks:
        with c.step(f"CHECK fails once {name}", hint=hint):
            do()
            try:
                ok, _why = pod.run("CHECK")
            finally:
                if undo is not None:
                    undo()
            c.expect(not ok, f"{what}, yet CHECK says all is well")

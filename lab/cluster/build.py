"""`cnilab up` / `cnilab down` for the embedded lab: nodes made of network namespaces.

    internet ns  (192.168.56.1 on eth0, 203.0.113.1 on lo: the router and "the internet")
        |
    underlay ns  (bridge br0: the switch of 192.168.56.0/24)
      |      |
    node1    node2   (eth0 192.168.56.11/.12, cni0 10.244.0.1/24, 10.244.1.1/24, ...)

Every device is created directly in the namespace where it lives (a veth's peer is
born in its target namespace), so nothing ever appears in the host's namespace. The
CLI is a short-lived single-threaded process, so it may enter namespaces (in_netns).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.cluster import node_setup
from lab.cluster.conflists import pycni_conflist
from lab.cluster.plan import (
    CONF_FILE,
    INTERNET_ADDRESS,
    NETWORK_NAME,
    SECONDARY_CONF_FILE,
    SECONDARY_NAME,
    UNDERLAY_GATEWAY,
    Node,
    Plan,
    load_plan,
    make_plan,
)
from lab.cni.invoke import REFERENCE_BIN
from lab.kernel import addrs, links
from lab.kernel.netns import create_netns, delete_netns, in_netns, iproute_in, list_netns
from lab.pycni.daemon_control import daemons_in, stop_daemons_in
from lab.pycni.launcher import write_launchers

SWITCH = "br0"
SCRATCH = "scratch"

log = logging.getLogger(__name__)


class LabError(RuntimeError):
    pass


def node_conflist(node: Node, secondary: bool = False) -> dict[str, Any]:
    """The node's CNI config, as the seed writes /etc/cni/net.d/10-bash-cni-plugin.conf.

    The secondary network (a node-local bridge, no default route) is where a pod's
    second interface goes, like the seed's extra flannel NIC.
    """
    return pycni_conflist(
        SECONDARY_NAME if secondary else NETWORK_NAME,
        "cni1" if secondary else node_setup.BRIDGE,
        node.secondary_cidr if secondary else node.pod_cidr,
        node.ipam_dir,
        node.log_file,
        default_gateway=not secondary,
    )


REFERENCE_CONF_FILE = "00-reference.conflist"
REFERENCE_NAME = "reference"


def reference_conflist(node: Node) -> dict[str, Any]:
    """Debian's reference `bridge` + `host-local` on the same bridge and pod CIDR.

    Their plugins speak up to CNI 1.0.0. Sorted first in the conf dir, the runtime
    picks it over pycni's: the lab then runs on the plugins Kubernetes The Hard Way uses.
    """
    return {
        "cniVersion": "1.0.0",
        "name": REFERENCE_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": node_setup.BRIDGE,
                "isGateway": True,
                "isDefaultGateway": True,
                "ipam": {"type": "host-local", "subnet": node.pod_cidr, "dataDir": node.ipam_dir},
            }
        ],
    }


def use_reference_plugins(plan: Plan, on: bool = True) -> None:
    for node in plan.nodes:
        path = Path(node.conf_dir) / REFERENCE_CONF_FILE
        if on:
            path.write_text(json.dumps(reference_conflist(node), indent=2) + "\n")
        else:
            path.unlink(missing_ok=True)


def _wire(ipr: Any, name: str, peer_fd: int, switch: links.Link) -> None:
    """A cable from the switch to a namespace: `name` on the switch, eth0 on the far end."""
    links.create_veth_into(ipr, name, "eth0", peer_fd)
    links.attach_to_bridge(ipr, links.link_by_name(ipr, name), switch)


def _bring_up_eth0(ipr: Any, address: ipaddress.IPv4Interface) -> int:
    eth0 = links.link_by_name(ipr, "eth0")
    addrs.ensure_address(ipr, eth0.index, address)
    ipr.link("set", index=eth0.index, state="up")
    lo = links.link_by_name(ipr, "lo")
    ipr.link("set", index=lo.index, state="up")
    return eth0.index


def build_underlay(plan: Plan) -> None:
    prefixlen = ipaddress.ip_network(plan.underlay).prefixlen
    with iproute_in(f"/run/netns/{plan.underlay_netns}") as (switch_ipr, _):
        switch = links.ensure_bridge(switch_ipr, SWITCH)
        with iproute_in(f"/run/netns/{plan.internet_netns}") as (ipr, fd):
            _wire(switch_ipr, "to-internet", fd, switch)
            _bring_up_eth0(ipr, UNDERLAY_GATEWAY)
            lo = links.link_by_name(ipr, "lo")
            addrs.ensure_address(ipr, lo.index, INTERNET_ADDRESS)
        for node in plan.nodes:
            with iproute_in(node.netns_path) as (ipr, fd):
                _wire(switch_ipr, f"to-{node.name}", fd, switch)
                address = ipaddress.ip_interface(f"{node.underlay_ip}/{prefixlen}")
                _bring_up_eth0(ipr, address)
                ipr.route("replace", dst="0.0.0.0", dst_len=0, gateway=str(UNDERLAY_GATEWAY.ip))


def init_node(plan: Plan, node: Node) -> None:
    """The node set-up `cnilab node init` does on a real host, here inside the node's netns.

    The pieces in `plan.bare` are left out: the student's code builds them.
    """
    peers = [node_setup.Peer(n.pod_cidr, n.underlay_ip) for n in plan.nodes if n is not node]
    with iproute_in(node.netns_path) as (ipr, _):
        if "bridge" not in plan.bare:
            node_setup.ensure_pod_bridge(ipr, node.gateway, node.pod_cidr)
        if "routes" not in plan.bare:
            node_setup.ensure_peer_routes(ipr, peers)
    with in_netns(node.netns_path):
        if "bridge" not in plan.bare:
            node_setup.enable_forwarding()
        if "masquerade" not in plan.bare:
            node_setup.ensure_masquerade(plan.pod_network)


def write_node_files(plan: Plan, node: Node) -> None:
    for folder in (node.conf_dir, node.ipam_dir, node.cache_dir):
        os.makedirs(folder, exist_ok=True)
    for name, secondary in ((CONF_FILE, False), (SECONDARY_CONF_FILE, True)):
        conf = Path(node.conf_dir) / name
        conf.write_text(json.dumps(node_conflist(node, secondary), indent=2) + "\n")


def install_plugins(plan: Plan) -> None:
    """The lab's CNI bin dir: pycni's launchers and Debian's reference plugins."""
    bin_dir = Path(plan.bin_dir)
    write_launchers(bin_dir)
    if REFERENCE_BIN.is_dir():
        for ref in REFERENCE_BIN.iterdir():
            target = bin_dir / ref.name
            if not target.exists():
                target.symlink_to(ref)


def start_daemons(plan: Plan, wait: float = 60.0) -> None:
    """A warm `pycni daemon` per node from the start (pycni would start one at its first
    call); `down` finds and stops them by namespace, whoever started them. Returns once
    each has named itself (it binds its socket right after), so `status` sees them.

    It names itself after its imports: ~0.3 s here, but over a minute on a starved QEMU
    TCG VM (the check lab inside node1 on the Vagrant lab). A daemon is an optimisation,
    never a dependency (pycni works without one), so one still importing after `wait`
    is left to finish with a warning; one that exited is an error."""
    started = {}
    for node in plan.nodes:
        with open(f"{node.state_dir}/pycni-daemon.log", "ab") as out:
            started[node.name] = subprocess.Popen(
                ["nsenter", f"--net={node.netns_path}", "--", f"{plan.bin_dir}/pycni", "daemon"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
    deadline = time.monotonic() + wait
    while missing := [n for n in plan.nodes if not daemons_in(n.netns_path)]:
        for node in missing:
            if (code := started[node.name].poll()) is not None:
                log_file = f"{node.state_dir}/pycni-daemon.log"
                tail = Path(log_file).read_text(errors="replace")[-2000:]
                log.error("pycni daemon on %s exited (%s):\n%s", node.name, code, tail)
                raise LabError(f"pycni daemon on {node.name} exited ({code}): see {log_file}")
        if time.monotonic() > deadline:
            names = ", ".join(n.name for n in missing)
            log.warning("pycni daemon on %s still starting after %.0f s; going on", names, wait)
            return
        time.sleep(0.02)


def up(
    plan: Plan,
    progress: Callable[[str], None] = lambda _: None,
    reference: bool = False,
    daemons: bool = True,
) -> Plan:
    """Build the whole lab; on any failure remove what was made and re-raise.

    `daemons=False` (a check's throwaway lab): no `pycni daemon` is started up front.
    """
    running = load_plan(plan.state_dir)
    if running is not None:
        raise LabError(f"a lab is already up (state in {plan.state_dir}); run `cnilab down` first")
    taken = [ns for ns in plan.namespaces() if ns in list_netns()]
    if taken:
        raise LabError(f"namespaces already exist: {', '.join(taken)}; run `cnilab down` first")
    os.makedirs(plan.state_dir, exist_ok=True)
    try:
        for ns in plan.namespaces():
            create_netns(ns)
        progress(f"namespaces: {', '.join(plan.namespaces())}")
        build_underlay(plan)
        progress(f"underlay {plan.underlay} on {plan.underlay_netns}/{SWITCH}")
        install_plugins(plan)
        os.makedirs(plan.pods_dir, exist_ok=True)
        for node in plan.nodes:
            init_node(plan, node)
            write_node_files(plan, node)
            progress(f"{node.name}: {node.underlay_ip}, pods {node.pod_cidr} on cni0")
        if plan.bare:
            progress(f"left to your code on every node: {', '.join(sorted(plan.bare))}")
        if reference:
            use_reference_plugins(plan)
            progress("pods use the reference bridge + host-local (00-reference.conflist)")
        if daemons:
            start_daemons(plan)
        Path(plan.plan_file).write_text(plan.to_json())  # last: marks the lab as up
    except BaseException:
        down(plan)
        raise
    return plan


def scratch_dir(plan: Plan) -> Path:
    """Where the throwaway labs of checks keep their state: inside the lab's own."""
    return Path(plan.state_dir) / SCRATCH


def scratch_plans(plan: Plan) -> list[Plan]:
    """The throwaway labs recorded under `plan` (each recorded before it is built)."""
    folder = scratch_dir(plan)
    found = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            found.append(Plan.from_json(record.read_text()))
    return found


def up_scratch(parent: Plan, nodes: int, bare: frozenset[str]) -> Plan:
    """A throwaway lab for one check: its own prefix, underlay and state dir inside the
    parent's, recorded first so that the parent's `down` removes it even after a crash."""
    name = f"{parent.prefix[:9]}s{secrets.token_hex(3)}"  # not `<parent>-`: not a pod
    plan = make_plan(nodes, prefix=name, state_dir=scratch_dir(parent) / name, bare=bare)
    scratch_dir(parent).mkdir(parents=True, exist_ok=True)
    (scratch_dir(parent) / f"{name}.json").write_text(plan.to_json())
    try:
        return up(plan, daemons=False)
    except BaseException:
        down_scratch(parent, plan)
        raise


def down_scratch(parent: Plan, plan: Plan) -> list[str]:
    removed = down(plan)
    (scratch_dir(parent) / f"{plan.prefix}.json").unlink(missing_ok=True)
    return removed


def stop_daemons(plan: Plan) -> None:
    for node in plan.nodes:
        stop_daemons_in(node.netns_path)


def down(plan: Plan | None) -> list[str]:
    """Remove every namespace, process and file of the lab. A second call does nothing."""
    if plan is None:
        return []
    removed = []
    for inner in scratch_plans(plan):  # a check's throwaway labs, if one was interrupted
        removed += down_scratch(plan, inner)
    stop_daemons(plan)
    mine = set(plan.namespaces())
    for ns in list_netns():  # pods are <prefix>-<pod>; every lab namespace has the prefix
        if (ns in mine or ns.startswith(f"{plan.prefix}-")) and delete_netns(ns):
            removed.append(ns)
    shutil.rmtree(plan.exec_dir, ignore_errors=True)  # the state dir, or beside it
    shutil.rmtree(plan.state_dir, ignore_errors=True)
    return removed

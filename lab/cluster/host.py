"""`cnilab node init`: make a real host (or a namespace standing in for one) a node.

The kernel work is node_setup's, the same code that builds the embedded lab's node
namespaces. A real host needs more around it: checks against the host as it is
(is --node-ip ours, are the peers on its link), a firewall that may drop forwarded
traffic, and a record of how things were, so `--undo` restores them exactly.
The CLI is a short-lived single-threaded process, so it may enter a namespace.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from lab.cluster import firewall, node_setup
from lab.cluster.node_spec import NodeSpec
from lab.cluster.node_state import Before, NodeState, load_state, save_state
from lab.kernel import addrs, links
from lab.kernel.netns import in_netns
from lab.kernel.nftables import NftError
from lab.kernel.nftables import _nft as nft_binary
from lab.kernel.sysctl import read_sysctl, write_sysctl

CONF = Path("/proc/sys/net/ipv4/conf")  # per namespace: what the calling thread is in
MAIN_TABLE = 254


class NodeInitError(RuntimeError):
    """A clear, user-facing failure: the message says what to do."""


@contextlib.contextmanager
def inside(netns: str | None) -> Iterator[None]:
    """The host itself, or the namespace standing in for it."""
    if netns is None:
        yield
    else:
        with in_netns(netns):
            yield


# -- what the host is like now ---------------------------------------------------------
def node_interface(ipr: IPRoute, node_ip: str) -> tuple[str, ipaddress.IPv4Network]:
    """The interface holding --node-ip, and its network (where the peers must be)."""
    for msg in ipr.addr("dump", family=socket.AF_INET):
        if msg.get("address") == node_ip:
            name = links.link_by_index(ipr, msg["index"]).name
            net = ipaddress.ip_interface(f"{node_ip}/{msg['prefixlen']}").network
            return name, net  # type: ignore[return-value]
    raise NodeInitError(
        f"--node-ip {node_ip} is not an address of this host (`ip -br addr` lists them)"
    )


def check_host(ipr: IPRoute, spec: NodeSpec) -> str:
    """Refuse what would fail half-way: peers off-link, a non-bridge named like the bridge."""
    ifname, net = node_interface(ipr, spec.node_ip)
    for peer in spec.peers:
        if ipaddress.ip_address(peer.address) not in net:
            raise NodeInitError(
                f"--peer {peer.pod_cidr}={peer.address}: {peer.address} is not on {net}, "
                f"the network of {spec.node_ip} ({ifname}); a route via a node needs "
                "that node on the same link"
            )
    with contextlib.suppress(links.LinkNotFound):
        found = links.link_by_name(ipr, spec.bridge)
        if found.kind != "bridge":
            kind = found.kind or "device"
            raise NodeInitError(f"--bridge {spec.bridge}: a {kind} of that name exists")
    return ifname


def route_to(ipr: IPRoute, cidr: str) -> dict[str, Any] | None:
    """The main table's metric-0 route to exactly `cidr` (the one `replace` overwrites)."""
    net = ipaddress.ip_network(cidr)
    for msg in ipr.route("dump", family=socket.AF_INET, table=MAIN_TABLE):
        dst = msg.get("dst") or "0.0.0.0"
        if (dst, msg["dst_len"]) != (str(net.network_address), net.prefixlen):
            continue
        if msg.get("priority"):
            continue
        oif = msg.get("oif")
        return {
            "gateway": msg.get("gateway"),
            "oif": links.link_by_index(ipr, oif).name if oif else None,
            "proto": msg["proto"],
            "scope": msg["scope"],
        }
    return None


def forwarding_sysctls() -> dict[str, str]:
    found = {}
    for conf in sorted(CONF.iterdir()):
        with contextlib.suppress(OSError):
            found[conf.name] = (conf / "forwarding").read_text().strip()
    return found


def table_exists(family: str, name: str) -> bool:
    proc = subprocess.run(
        [nft_binary(), "list", "table", family, name],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return proc.returncode == 0


def capture_before(ipr: IPRoute, spec: NodeSpec) -> Before:
    bridge_existed, bridge_up, gateway_existed = False, False, False
    with contextlib.suppress(links.LinkNotFound):
        bridge = links.link_by_name(ipr, spec.bridge)
        bridge_existed, bridge_up = True, bridge.up
        gateway = ipaddress.ip_interface(
            f"{spec.gateway}/{ipaddress.ip_network(spec.pod_cidr).prefixlen}"
        )
        gateway_existed = gateway in addrs.addresses(ipr, bridge.index)
    return Before(
        ip_forward=read_sysctl("net.ipv4.ip_forward"),
        forwarding=forwarding_sysctls(),
        accept_redirects=(CONF / "all" / "accept_redirects").read_text().strip(),
        bridge_existed=bridge_existed,
        bridge_up=bridge_up,
        gateway_existed=gateway_existed,
        masquerade_existed=table_exists("ip", node_setup.NAT_TABLE),
    )


# -- init --------------------------------------------------------------------------------
def plan_state(ipr: IPRoute, spec: NodeSpec, old: NodeState | None, netns: str | None) -> NodeState:
    """The record to keep: the first run's `before`, plus the old routes of new peers."""
    if old is not None and old.netns != netns:
        where = old.netns or "the host itself"
        raise NodeInitError(f"the state file belongs to {where}; pass another --state-file")
    if old is not None and not old.spec.same_node(spec):
        was = f"pod CIDR {old.spec.pod_cidr}, node IP {old.spec.node_ip}, bridge {old.spec.bridge}"
        raise NodeInitError(
            f"this node was initialised with {was} (pod network {old.spec.pod_network}); "
            "run `cnilab node init --undo` first"
        )
    state = old or NodeState(spec, netns, capture_before(ipr, spec))
    for peer in spec.peers:
        if peer.pod_cidr not in state.before.routes:
            state.before.routes[peer.pod_cidr] = route_to(ipr, peer.pod_cidr)
    return state


def old_peer_address(old: NodeState | None, cidr: str) -> str | None:
    """Where our route to a peer that left pointed (to delete exactly that route)."""
    if old is None:
        return None
    return next((p.address for p in old.spec.peers if p.pod_cidr == cidr), None)


def init(spec: NodeSpec, state_file: Path, netns: str | None = None) -> NodeState:
    """Make the host a node; run again with the same spec: same state (peers may change)."""
    old = load_state(state_file)
    with inside(netns):
        with IPRoute() as ipr:
            check_host(ipr, spec)
            state = plan_state(ipr, spec, old, netns)
            wanted = {p.pod_cidr for p in spec.peers}
            for cidr in [c for c in state.before.routes if c not in wanted]:  # peers gone
                restore_route(ipr, cidr, state.before.routes.pop(cidr), old_peer_address(old, cidr))
            state.spec = spec
            save_state(state_file, state)  # before any change: undo must know how it was
            try:
                node_setup.ensure_pod_bridge(ipr, spec.gateway, spec.pod_cidr, spec.bridge)
                node_setup.ensure_peer_routes(ipr, list(spec.peers))
            except NetlinkError as e:
                raise NodeInitError(f"the kernel refused a change: {e.args[-1]}") from None
        node_setup.enable_forwarding()
        try:
            node_setup.ensure_masquerade(spec.pod_network)
            state.openings = firewall.allow_forwarding(spec.pod_network, state.openings)
        except (NftError, firewall.FirewallError) as e:
            raise NodeInitError(str(e)) from None
        finally:
            save_state(state_file, state)
    return state


# -- undo --------------------------------------------------------------------------------
def restore_route(
    ipr: IPRoute, cidr: str, previous: dict[str, Any] | None, ours_via: str | None
) -> None:
    """Put back the route ours replaced, or delete ours (only ours: matched by gateway)."""
    net = ipaddress.ip_network(cidr)
    where = {"dst": str(net.network_address), "dst_len": net.prefixlen}
    try:
        if previous is None:
            if ours_via is not None:
                ipr.route("del", **where, gateway=ours_via)
            return
        kw: dict[str, Any] = {"proto": previous["proto"], "scope": previous["scope"]}
        if previous["gateway"]:
            kw["gateway"] = previous["gateway"]
        if previous["oif"]:
            kw["oif"] = links.link_by_name(ipr, previous["oif"]).index
        ipr.route("replace", **where, **kw)
    except NetlinkError as e:
        if e.code not in (errno.ESRCH, errno.ENETUNREACH):  # gone, or its link is gone
            raise
    except links.LinkNotFound:
        pass


def bridge_ports(ipr: IPRoute, bridge: str) -> list[str]:
    try:
        index = links.link_by_name(ipr, bridge).index
    except links.LinkNotFound:
        return []
    return [link.name for link in links.list_links(ipr) if link.master == index]


def restore_bridge(ipr: IPRoute, spec: NodeSpec, before: Before) -> None:
    """A bridge that was there stays: only our gateway address and its state go back."""
    try:
        index = links.link_by_name(ipr, spec.bridge).index
    except links.LinkNotFound:
        return
    if not before.gateway_existed:
        prefixlen = ipaddress.ip_network(spec.pod_cidr).prefixlen
        with contextlib.suppress(NetlinkError):
            ipr.addr("del", index=index, address=spec.gateway, prefixlen=prefixlen)
    if not before.bridge_up:
        ipr.link("set", index=index, state="down")


def restore_sysctls(before: Before) -> None:
    """ip_forward first (writing it resets every conf/*/forwarding), then the rest."""
    write_sysctl("net.ipv4.ip_forward", before.ip_forward)
    for name, value in before.forwarding.items():
        if name == "all":
            continue  # that is ip_forward itself
        path = CONF / name / "forwarding"
        with contextlib.suppress(FileNotFoundError):  # the device went away since
            if path.read_text().strip() != value:
                path.write_text(value)
    path = CONF / "all" / "accept_redirects"
    if path.read_text().strip() != before.accept_redirects:
        path.write_text(before.accept_redirects)


def undo(state_file: Path, netns: str | None = None, force: bool = False) -> NodeState | None:
    """Restore what init changed and remove the state file; None when there was nothing."""
    state = load_state(state_file)
    if state is None:
        return None
    if netns is not None and state.netns != netns:
        where = state.netns or "the host itself"
        raise NodeInitError(f"{state_file} records a node init of {where}, not of {netns}")
    spec, before = state.spec, state.before
    with inside(state.netns):
        with IPRoute() as ipr:
            ports = bridge_ports(ipr, spec.bridge)
            if ports and not before.bridge_existed and not force:
                raise NodeInitError(
                    f"{spec.bridge} still has pods plugged in ({', '.join(ports)}); delete "
                    "them first, or pass --force to remove the bridge anyway"
                )
            try:
                firewall.close(state.openings, spec.pod_network)
                if not before.masquerade_existed:
                    node_setup.remove_masquerade()
            except (NftError, firewall.FirewallError) as e:
                raise NodeInitError(str(e)) from None
            for peer in spec.peers:
                restore_route(ipr, peer.pod_cidr, before.routes.get(peer.pod_cidr), peer.address)
            if not before.bridge_existed:
                links.delete_link(ipr, spec.bridge)
            else:
                restore_bridge(ipr, spec, before)
        restore_sysctls(before)
    state_file.unlink()
    return state

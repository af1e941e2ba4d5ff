"""One snapshot of a real two-node lab: namespaces, interfaces, veth pairs, bridges, routes."""

from __future__ import annotations

import json
import os
import re

import networkx as nx
import pytest

from lab.inspect import Inspector, if_id, ns_id
from tests.inspect.conftest import Lab

pytestmark = pytest.mark.root


def _link_show(lab: Lab, netns: str, ifname: str) -> str:
    return lab.nodes[0].sh("ip", "-d", "link", "show", ifname, netns=netns)


def test_finds_every_namespace_with_its_kind(lab: Lab) -> None:
    with Inspector(lab.plan) as inspector:
        snap = inspector.snapshot()
    g = snap.graph
    n1, n2 = (n.name for n in lab.nodes)
    assert sorted(snap.namespaces()) == sorted(
        [n1, n2, lab.underlay, *(p.netns for p in lab.pods.values())]
    )
    assert g.nodes[ns_id(n1)]["kind"] == "node" and g.nodes[ns_id(n1)]["label"] == "node1"
    assert g.nodes[ns_id(n2)]["node"] == "node2"
    assert g.nodes[ns_id(lab.underlay)]["kind"] == "underlay"
    for pod in lab.pods.values():
        attrs = g.nodes[ns_id(pod.netns)]
        assert attrs["kind"] == "pod"
        assert attrs["label"] == pod.name
        assert attrs["pod"]["container_id"] == pod.container_id
        assert attrs["pod"]["node"] == attrs["node"]
        assert attrs["node"] == ("node1" if pod.node is lab.nodes[0] else "node2")
        assert g.nodes[if_id(pod.netns, "eth0")]["network"] == "testnet"


def test_interfaces_addresses_and_routes_match_the_kernel(lab: Lab) -> None:
    n1 = lab.nodes[0].name
    with Inspector(lab.plan) as inspector:
        snap = inspector.snapshot()
    cni0 = snap.interface(n1, "cni0")
    assert cni0["kind"] == "bridge"
    assert cni0["addresses"] == ["10.244.0.1/24"]
    assert cni0["operstate"] == "UP"
    shown = _link_show(lab, n1, "cni0")
    assert f"link/ether {cni0['mac']}" in shown
    assert f"mtu {cni0['mtu']}" in shown
    assert snap.interface(n1, "lo")["kind"] == "loopback"
    assert snap.interface(n1, "eth1")["addresses"] == ["192.168.56.11/24"]

    for pod in lab.pods.values():
        eth0 = snap.interface(pod.netns, "eth0")
        assert eth0["addresses"] == [pod.address]
        assert eth0["kind"] == "veth"
        routes = snap.graph.nodes[ns_id(pod.netns)]["routes"]
        gateway = pod.address.rsplit(".", 1)[0] + ".1"
        assert {"dst": "default", "gateway": gateway, "dev": "eth0"}.items() <= routes[0].items()

    node_routes = {r["dst"]: r for r in snap.graph.nodes[ns_id(n1)]["routes"]}
    assert node_routes["10.244.1.0/24"]["gateway"] == "192.168.56.12"
    assert node_routes["10.244.1.0/24"]["dev"] == "eth1"
    assert node_routes["10.244.0.0/24"]["dev"] == "cni0"
    assert node_routes["10.244.0.0/24"]["protocol"] == "kernel"


def test_veth_peers_resolve_across_namespaces_both_ways(lab: Lab) -> None:
    with Inspector(lab.plan) as inspector:
        g = inspector.snapshot().graph
    for pod in lab.pods.values():
        eth0, host = if_id(pod.netns, "eth0"), if_id(pod.node.name, pod.host_veth)
        assert g.nodes[eth0]["peer"] == host
        assert g.nodes[host]["peer"] == eth0
        assert g.edges[eth0, host]["kind"] == "veth"
        assert g.edges[eth0, host]["underlay"] is False
        peer_index = re.search(r"@if(\d+)", _link_show(lab, pod.netns, "eth0")).group(1)
        assert g.nodes[host]["index"] == int(peer_index)


def test_same_ifindex_on_both_ends_and_decoys(lab: Lab) -> None:
    n1, n2 = (n.name for n in lab.nodes)
    # A decoy pair elsewhere with the very same indexes (2 <-> 2).
    x, y = lab.namespaces.new("decoy"), lab.namespaces.new("decoy")
    lab.nodes[0].sh(
        "ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", y, netns=x
    )
    with Inspector(lab.plan) as inspector:
        g = inspector.snapshot().graph
    a, b = if_id(n1, "ul0"), if_id(n2, "ul0")
    assert g.nodes[a]["index"] == g.nodes[b]["index"] == 2
    assert g.nodes[if_id(x, "ul0")]["index"] == g.nodes[if_id(y, "ul0")]["index"] == 2
    assert g.nodes[a]["peer"] == b and g.nodes[b]["peer"] == a
    assert g.nodes[if_id(x, "ul0")]["peer"] == if_id(y, "ul0")
    assert g.nodes[if_id(y, "ul0")]["peer"] == if_id(x, "ul0")
    assert g.edges[a, b]["underlay"] is True
    assert sorted(g[a]) == sorted([ns_id(n1), b])


def test_bridge_ports_fdb_and_underlay(lab: Lab) -> None:
    n1 = lab.nodes[0].name
    with Inspector(lab.plan) as inspector:
        g = inspector.snapshot().graph
    cni0 = if_id(n1, "cni0")
    ports = {p for p in g[cni0] if g.edges[cni0, p]["kind"] == "bridge-port"}
    expected = {if_id(n1, p.host_veth) for p in lab.pods.values() if p.node is lab.nodes[0]}
    assert ports == expected
    for port in ports:
        assert g.nodes[port]["master"] == cni0
        assert g.edges[cni0, port]["port"] == port and g.edges[cni0, port]["bridge"] == cni0
    local = {e["port"] for e in g.nodes[cni0]["fdb"] if e["local"]}
    assert expected <= local
    for port in expected:
        mac = g.nodes[port]["mac"]
        assert any(e["mac"] == mac and e["port"] == port for e in g.nodes[cni0]["fdb"])

    br0 = if_id(lab.underlay, "br0")
    assert {g.nodes[p]["name"] for p in g[br0] if g.nodes[p]["type"] == "interface"} == {"n1", "n2"}
    eth1 = if_id(n1, "eth1")
    assert g.nodes[eth1]["peer"] == if_id(lab.underlay, "n1")
    assert g.edges[eth1, if_id(lab.underlay, "n1")]["underlay"] is True


def test_neighbours_after_a_ping(lab: Lab) -> None:
    pod = next(p for p in lab.pods.values() if p.node is lab.nodes[0])
    out = pod.node.sh("ping", "-c1", "-W2", "10.244.0.1", netns=pod.netns)
    assert " 0% packet loss" in out
    with Inspector(lab.plan) as inspector:
        snap = inspector.snapshot()
    mac = snap.interface(pod.netns, "eth0")["mac"]
    ip = pod.address.split("/")[0]
    neigh = snap.graph.nodes[ns_id(pod.node.name)]["neighbours"]
    assert any(n["ip"] == ip and n["mac"] == mac and n["dev"] == "cni0" for n in neigh)
    cni0 = snap.interface(pod.node.name, "cni0")
    assert any(e["mac"] == mac and not e["local"] for e in cni0["fdb"])  # learned


def test_node_link_json_round_trips(lab: Lab) -> None:
    with Inspector(lab.plan) as inspector:
        snap = inspector.snapshot()
    data = json.loads(snap.to_json())
    assert data["graph"]["seq"] == snap.seq
    ids = {n["id"] for n in data["nodes"]}
    assert ns_id(lab.nodes[0].name) in ids
    assert if_id(lab.nodes[0].name, "cni0") in ids
    kinds = {e["kind"] for e in data["edges"]}
    assert kinds == {"member", "veth", "bridge-port", "route", "default-route"}
    g = nx.node_link_graph(data, edges="edges")
    assert dict(g.nodes(data=True)) == dict(snap.graph.nodes(data=True))
    assert {frozenset(e) for e in g.edges} == {frozenset(e) for e in snap.graph.edges}


def test_all_netns_and_host_are_read_only_extras(lab: Lab) -> None:
    host_before = open("/proc/net/dev").read().count("\n")  # noqa: SIM115
    with Inspector(lab.plan, include_host=True, all_netns=True) as inspector:
        snap = inspector.snapshot()
    g = snap.graph
    assert g.nodes[ns_id("host")]["kind"] == "host"
    assert g.nodes[if_id("host", "lo")]["kind"] == "loopback"
    assert g.nodes[ns_id(lab.nodes[0].name)]["kind"] == "node"
    assert all(
        k in {"node", "pod", "underlay", "internet", "host", "other"}
        for k in (g.nodes[ns_id(n)]["kind"] for n in snap.namespaces())
    )
    assert open("/proc/net/dev").read().count("\n") == host_before  # noqa: SIM115


def test_pod_without_record_is_found_by_name_and_veth(lab: Lab) -> None:
    pod = lab.add_pod(1, "cid-norecord", record=False)
    with Inspector(lab.plan) as inspector:
        attrs = inspector.snapshot().graph.nodes[ns_id(pod.netns)]
    assert attrs["kind"] == "pod"
    assert attrs["pod"] is None
    assert attrs["label"] == pod.name
    assert attrs["node"] == "node2"


def test_close_releases_every_socket(lab: Lab) -> None:
    before = len(os.listdir("/proc/self/fd"))
    inspector = Inspector(lab.plan)
    inspector.snapshot()
    assert len(os.listdir("/proc/self/fd")) >= before + 6
    inspector.close()
    assert len(os.listdir("/proc/self/fd")) == before
    with pytest.raises(RuntimeError):
        inspector.snapshot()

"""The inspector's pure parts, without root: owners, veth pairing, the graph, routes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lab.cluster.plan import make_plan
from lab.inspect.dump import Address, FdbEntry, Interface, NamespaceDump, Route
from lab.inspect.graph import GraphBuilder, NamespaceView, Snapshot, build_graph, if_id, ns_id
from lab.inspect.namespaces import NetnsRef
from lab.inspect.owners import Owners, PodRecords, read_pod_records
from lab.inspect.peers import resolve_veth_peers
from lab.inspect.routes import Place, route_edges


def iface(
    index: int,
    name: str,
    kind: str = "veth",
    link: int = 0,
    nsid: int | None = None,
    master: int = 0,
) -> Interface:
    return Interface(
        index, name, kind, f"02:00:00:00:00:{index:02x}", 1500, "UP", True, master, link, nsid, ""
    )


def lo() -> Interface:
    return iface(1, "lo", kind="loopback")


def test_owners_from_a_plan_and_pod_records(tmp_path: Path) -> None:
    plan = make_plan(2, state_dir=tmp_path)
    pods = Path(plan.pods_dir)
    pods.mkdir()
    (pods / "web.json").write_text(
        json.dumps(
            {
                "name": "web",
                "node": "node2",
                "container_id": "c1",
                "netns": "/run/netns/cnilab-web",
                "attachments": [{"ifname": "eth0", "network": "cnilab", "result": {}}],
                "created": 1.5,
            }
        )
    )
    (pods / "broken.json").write_text("{")
    (pods / "notes.txt").write_text("ignored")
    records = read_pod_records(plan.pods_dir)
    assert list(records) == ["cnilab-web"]
    owners = Owners(plan, records)

    assert owners.owner("cnilab-node1").kind == "node"
    assert owners.owner("cnilab-node2").node == "node2"
    assert owners.owner("cnilab-underlay").kind == "underlay"
    assert owners.owner("cnilab-internet").kind == "internet"
    web = owners.owner("cnilab-web")
    assert (web.kind, web.node, web.label) == ("pod", "node2", "web")
    assert web.pod.attachments[0].network == "cnilab"
    assert owners.owner("cnilab-node3").kind == "pod"  # not in the plan: only a name
    assert owners.owner("docker-1").kind == "other"
    assert owners.owner("host", is_host=True).kind == "host"
    assert owners.is_lab("cnilab-anything") and not owners.is_lab("docker-1")


def _record(folder: Path, name: str, node: str) -> None:
    tmp = folder / f".{name}.tmp"  # as the runtime writes them: a new file, renamed
    tmp.write_text(json.dumps({"name": name, "node": node, "netns": f"cnilab-{name}"}))
    os.replace(tmp, folder / f"{name}.json")


def test_pod_records_are_read_again_only_when_their_file_changes(tmp_path: Path) -> None:
    records = PodRecords()
    assert records.read(str(tmp_path / "missing")) == {}
    _record(tmp_path, "a", "node1")
    _record(tmp_path, "b", "node1")
    first = records.read(str(tmp_path))
    again = records.read(str(tmp_path))
    assert again["cnilab-a"] is first["cnilab-a"]  # not parsed again
    _record(tmp_path, "a", "node2")  # moved: a new file (inode) under the same name
    (tmp_path / "b.json").unlink()
    (tmp_path / "c.json").write_text("{half")
    after = records.read(str(tmp_path))
    assert list(after) == ["cnilab-a"] and after["cnilab-a"].node == "node2"
    (tmp_path / "c.json").write_text(json.dumps({"name": "c", "netns": "cnilab-c"}))
    assert set(records.read(str(tmp_path))) == {"cnilab-a", "cnilab-c"}  # complete now


def test_owners_without_a_plan_go_by_names() -> None:
    owners = Owners(None)
    assert owners.owner("cnilab-node7").kind == "node"
    assert owners.owner("cnilab-node7").node == "node7"
    assert owners.owner("cnilab-underlay").kind == "underlay"
    assert owners.owner("cnilab-internet").kind == "internet"
    assert owners.owner("cnilab-web").kind == "pod"
    assert owners.owner("other").kind == "other"
    assert read_pod_records("/nonexistent") == {}


A, B, C, D = (0, 10), (0, 11), (0, 12), (0, 13)


def test_veth_pairs_with_the_same_ifindex_are_told_apart_by_nsid() -> None:
    # A:ul0(2) <-> B:ul0(2) and C:ul0(2) <-> D:ul0(2): indexes alike, nsids tell.
    nsids = {(A, B): 5, (B, A): 0, (C, D): 5, (D, C): 0, (A, C): 1, (A, D): 2, (C, A): 7}
    dumps = {
        A: NamespaceDump((lo(), iface(2, "ul0", link=2, nsid=5))),
        B: NamespaceDump((lo(), iface(2, "ul0", link=2, nsid=0))),
        C: NamespaceDump((lo(), iface(2, "ul0", link=2, nsid=5))),
        D: NamespaceDump((lo(), iface(2, "ul0", link=2, nsid=0))),
    }
    peers = resolve_veth_peers(dumps, lambda here, there: nsids.get((here, there)))
    assert peers == {(A, 2): (B, 2), (B, 2): (A, 2), (C, 2): (D, 2), (D, 2): (C, 2)}


def test_veth_in_one_namespace_and_peer_outside_the_inspection() -> None:
    dumps = {
        A: NamespaceDump(
            (lo(), iface(2, "va", link=3), iface(3, "vb", link=2), iface(4, "out", link=9, nsid=3))
        )
    }
    peers = resolve_veth_peers(dumps, lambda here, there: None)
    assert peers == {(A, 2): (A, 3), (A, 3): (A, 2)}


def _views() -> tuple[list[NamespaceView], dict]:
    owners = Owners(make_plan(1))
    node = NamespaceDump(
        interfaces=(
            lo(),
            iface(2, "cni0", kind="bridge"),
            iface(5, "veth1", link=2, nsid=0, master=2),
        ),
        addresses=(Address(2, "10.244.0.1/24", "universe", "cni0"),),
        routes=(Route("10.244.0.0/24", "", 2, "10.244.0.1", "kernel", "link", "unicast", 0),),
        fdb=(FdbEntry(2, 5, "02:00:00:00:00:05", None, True, "PERMANENT"),),
    )
    pod = NamespaceDump(
        interfaces=(lo(), iface(2, "eth0", link=5, nsid=0)),
        addresses=(Address(2, "10.244.0.2/24", "universe", "eth0"),),
        routes=(Route("default", "10.244.0.1", 2, "", "static", "universe", "unicast", 0),),
    )
    views = [
        NamespaceView(
            NetnsRef("cnilab-node1", "/run/netns/cnilab-node1", A),
            owners.owner("cnilab-node1"),
            node,
        ),
        NamespaceView(
            NetnsRef("cnilab-web", "/run/netns/cnilab-web", B), owners.owner("cnilab-web"), pod
        ),
    ]
    return views, {(A, 5): (B, 2), (B, 2): (A, 5)}


def test_graph_ids_edges_and_attributes() -> None:
    views, peers = _views()
    g = build_graph(views, peers)
    node, pod = ns_id("cnilab-node1"), ns_id("cnilab-web")
    cni0, veth, eth0 = (
        if_id("cnilab-node1", "cni0"),
        if_id("cnilab-node1", "veth1"),
        if_id("cnilab-web", "eth0"),
    )
    assert g.nodes[node]["kind"] == "node"
    assert g.nodes[pod]["node"] == "node1"  # no record: found through the veth
    assert g.edges[node, cni0]["kind"] == "member"
    assert g.edges[veth, cni0] == {"kind": "bridge-port", "port": veth, "bridge": cni0}
    assert g.edges[veth, eth0] == {"kind": "veth", "underlay": False}
    assert g.nodes[veth]["master"] == cni0
    assert g.nodes[eth0]["peer"] == veth and g.nodes[veth]["peer"] == eth0
    assert g.nodes[cni0]["fdb"] == [
        {
            "mac": "02:00:00:00:00:05",
            "port": veth,
            "vlan": None,
            "local": True,
            "state": "PERMANENT",
        }
    ]
    assert g.nodes[pod]["routes"][0]["dev"] == "eth0"
    assert g.nodes[eth0]["addresses"] == ["10.244.0.2/24"]

    snap = Snapshot(1, 0.0, 0.0, *GraphBuilder().build(views, peers))
    data = json.loads(snap.to_json())
    assert {e["kind"] for e in data["edges"]} == {"member", "bridge-port", "veth", "default-route"}
    assert g.edges[pod, cni0] == {"kind": "default-route", "via": "10.244.0.1", "dev": "eth0"}
    assert snap.same_content(Snapshot(2, 1.0, 0.0, *GraphBuilder().build(*_views())))
    assert dict(snap.graph.nodes(data=True)) == dict(g.nodes(data=True))
    assert snap.interface("cnilab-web", "eth0")["peer"] == veth


def test_builder_reuses_the_parts_of_namespaces_that_did_not_change() -> None:
    views, peers = _views()
    builder = GraphBuilder()
    nodes, _ = builder.build(views, peers)
    first = {n["id"]: n for n in nodes}
    same, _ = builder.build(list(views), dict(peers))
    assert all(n is first[n["id"]] for n in same)  # the same dumps: the same dicts

    node, pod = views
    more = NamespaceDump(
        interfaces=(*pod.dump.interfaces, iface(3, "eth1")),
        addresses=pod.dump.addresses,
        routes=pod.dump.routes,
    )
    after, edges = builder.build([node, NamespaceView(pod.ref, pod.owner, more)], peers)
    by_id = {n["id"]: n for n in after}
    assert by_id[ns_id("cnilab-node1")] is first[ns_id("cnilab-node1")]
    assert by_id[if_id("cnilab-node1", "cni0")] is first[if_id("cnilab-node1", "cni0")]
    assert if_id("cnilab-web", "eth1") in by_id
    # the pod's part is made again, but its namespace's dict (routes, ARP) is the same
    assert by_id[ns_id("cnilab-web")] is first[ns_id("cnilab-web")]
    assert by_id[if_id("cnilab-web", "eth0")] is first[if_id("cnilab-web", "eth0")]

    # an equal dump but its veth's peer gone: both ends' parts are made again
    unpaired, edges = builder.build([node, NamespaceView(pod.ref, pod.owner, more)], {})
    by_id = {n["id"]: n for n in unpaired}
    assert by_id[if_id("cnilab-node1", "veth1")]["peer"] is None
    assert by_id[if_id("cnilab-web", "eth0")]["peer"] is None
    assert by_id[ns_id("cnilab-web")]["node"] == ""  # no record and no veth: no node
    assert not [e for e in edges if e["kind"] == "veth"]


def _place(name: str, kind: str, node: str, ips: dict[str, str], routes: list[Route]) -> Place:
    names = list(ips)
    return Place(
        name,
        kind,
        node,
        NamespaceDump(
            interfaces=tuple(iface(i + 2, n) for i, n in enumerate(names)),
            addresses=tuple(
                Address(i + 2, cidr, "universe", n) for i, (n, cidr) in enumerate(ips.items())
            ),
            routes=tuple(routes),
        ),
    )


def _via(dst: str, gateway: str, oif: int = 2) -> Route:
    return Route(dst, gateway, oif, "", "static", "universe", "unicast", 0)


def test_route_edges_need_one_node_holding_the_next_hop() -> None:
    places = [
        _place(
            "n1",
            "node",
            "node1",
            {"eth1": "192.168.56.11/24", "cni0": "10.244.0.1/24"},
            [
                _via("10.244.1.0/24", "192.168.56.12"),
                _via("10.244.2.0/24", "192.168.56.13"),  # two nodes hold it: which? none
                _via("10.244.3.0/24", "192.168.56.14"),  # a pod holds it: not a node's route
                _via("default", "192.168.56.12"),  # the default is no pod CIDR's route
            ],
        ),
        _place("n2", "node", "node2", {"eth1": "192.168.56.12/24", "x": "192.168.56.13/24"}, []),
        _place("n3", "node", "node3", {"eth1": "192.168.56.13/24", "cni0": "10.244.0.1/24"}, []),
        _place("p9", "pod", "node3", {"eth0": "192.168.56.14/24"}, [_via("default", "10.244.0.1")]),
        _place("p8", "pod", "node9", {"eth0": "10.244.9.2/24"}, [_via("default", "10.244.0.1")]),
        _place("p7", "pod", "node1", {"eth0": "10.244.0.7/24"}, [_via("default", "10.244.0.99")]),
    ]
    edges = {(a, b): d for a, b, d in route_edges(places, if_id, ns_id)}
    assert edges == {
        (ns_id("n1"), if_id("n2", "eth1")): {
            "kind": "route",
            "cidrs": ["10.244.1.0/24"],
            "cidr": "10.244.1.0/24",
            "via": "192.168.56.12",
            "dev": "eth1",
            "node": "node1",
            "to_node": "node2",
        },
        # 10.244.0.1 is on node1 and node3: a pod's gateway is the one on its own node
        (ns_id("p9"), if_id("n3", "cni0")): {
            "kind": "default-route",
            "via": "10.244.0.1",
            "dev": "eth0",
        },
    }

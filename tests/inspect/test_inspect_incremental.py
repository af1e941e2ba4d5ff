"""What the inspector keeps between snapshots (the veth pairing, the graph builder's parts,
veth and route edges) must give what a fresh reading gives, after any run of changes:
pods come and go, links are renamed or made, addresses and routes change."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.cluster.plan import make_plan
from lab.inspect.dump import Address, FdbEntry, NamespaceDump, Route
from lab.inspect.graph import GraphBuilder, NamespaceView, Snapshot
from lab.inspect.namespaces import NetnsKey, NetnsRef
from lab.inspect.owners import Owners
from lab.inspect.peers import VethPeers, resolve_veth_peers
from tests.inspect.test_inspect_model import iface, lo

OWNERS = Owners(make_plan(2))
NODES = ("cnilab-node1", "cnilab-node2")


def _route(dst: str, gateway: str, oif: int) -> Route:
    return Route(dst, gateway, oif, "", "static", "universe", "unicast", 0)


@dataclass
class FakeLab:
    """Dumps of two nodes and their pods, as the kernel would show them; a namespace's
    id as seen from another is the other's inode."""

    dumps: dict[NetnsKey, NamespaceDump] = field(default_factory=dict)
    names: dict[NetnsKey, str] = field(default_factory=dict)
    pods: list[tuple[NetnsKey, int, int]] = field(default_factory=list)  # pod, node, veth
    made: int = 0

    def __post_init__(self) -> None:
        for n, name in enumerate(NODES):
            self.names[(0, n)] = name
            other = (0, 1 - n)
            self.dumps[(0, n)] = NamespaceDump(
                interfaces=(
                    lo(),
                    iface(2, "eth1", link=2, nsid=other[1]),
                    iface(3, "cni0", kind="bridge"),
                ),
                addresses=(
                    Address(2, f"192.168.56.{11 + n}/24", "universe", "eth1"),
                    Address(3, f"10.244.{n}.1/24", "universe", "cni0"),
                ),
                routes=(_route(f"10.244.{1 - n}.0/24", f"192.168.56.{12 - n}", 2),),
            )

    def nsid_of(self, here: NetnsKey, there: NetnsKey) -> int | None:
        return there[1] if there in self.dumps else None

    def _node(self, n: int, dump: NamespaceDump) -> None:
        self.dumps[(0, n)] = dump

    def add_pod(self, n: int) -> None:
        self.made += 1
        key = (0, 100 + self.made)
        node = self.dumps[(0, n)]
        index = max(i.index for i in node.interfaces) + 1
        self.names[key] = f"cnilab-p{self.made}"
        self.dumps[key] = NamespaceDump(
            interfaces=(lo(), iface(2, "eth0", link=index, nsid=n)),
            addresses=(Address(2, f"10.244.{n}.{self.made + 1}/24", "universe", "eth0"),),
            routes=(_route("default", f"10.244.{n}.1", 2),),
        )
        veth = replace(iface(index, f"veth{self.made}", link=2, nsid=key[1]), master=3)
        fdb = FdbEntry(3, index, veth.mac, None, True, "PERMANENT")
        self._node(
            n,
            replace(node, interfaces=(*node.interfaces, veth), fdb=(*node.fdb, fdb)),
        )
        self.pods.append((key, n, index))

    def remove_pod(self, at: int, keep_veth: bool) -> None:
        if not self.pods:
            return
        key, n, index = self.pods.pop(at % len(self.pods))
        del self.dumps[key], self.names[key]
        if not keep_veth:  # else the node's end lingers for a moment, peerless
            node = self.dumps[(0, n)]
            self._node(
                n,
                replace(
                    node,
                    interfaces=tuple(i for i in node.interfaces if i.index != index),
                    fdb=tuple(e for e in node.fdb if e.port != index),
                ),
            )

    def rename_veth(self, at: int) -> None:
        if not self.pods:
            return
        _, n, index = self.pods[at % len(self.pods)]
        node = self.dumps[(0, n)]
        self.made += 1
        named = tuple(
            replace(i, name=f"ren{self.made}") if i.index == index else i for i in node.interfaces
        )
        self._node(n, replace(node, interfaces=named))

    def local_pair(self, n: int) -> None:
        node = self.dumps[(0, n)]
        a = max(i.index for i in node.interfaces) + 1
        self.made += 1
        pair = (iface(a, f"la{self.made}", link=a + 1), iface(a + 1, f"lb{self.made}", link=a))
        self._node(n, replace(node, interfaces=(*node.interfaces, *pair)))

    def readdress(self, at: int) -> None:
        if not self.pods:
            return
        key, n, _ = self.pods[at % len(self.pods)]
        pod = self.dumps[key]
        gateway = f"10.244.{n}.1" if at % 3 else f"10.244.{1 - n}.1"  # one another node holds
        self.dumps[key] = replace(
            pod,
            addresses=(Address(2, f"10.244.{n}.{200 + at % 50}/24", "universe", "eth0"),),
            routes=(_route("default", gateway, 2),),
        )

    def reroute(self, n: int) -> None:
        node = self.dumps[(0, n)]
        self.made += 1
        extra = _route(f"172.16.{self.made % 250}.0/24", f"192.168.56.{12 - n}", 2)
        self._node(n, replace(node, routes=(*node.routes, extra)))


def _views(lab: FakeLab, before: dict[NetnsKey, NamespaceView]) -> list[NamespaceView]:
    """The inspector's way: the same view object while a namespace's dump is the same."""
    views = []
    for key, dump in lab.dumps.items():
        old = before.get(key)
        if old is None or old.dump is not dump:
            name = lab.names[key]
            old = NamespaceView(NetnsRef(name, f"/run/netns/{name}", key), OWNERS.owner(name), dump)
        before[key] = old
        views.append(old)
    for key in [k for k in before if k not in lab.dumps]:
        del before[key]
    return views


OPS = ("add_pod", "remove_pod", "remove_pod_keep_veth", "rename", "pair", "readdress", "reroute")


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 40)), min_size=1, max_size=14))
def test_kept_pairing_and_graph_equal_a_fresh_one_after_every_change(
    steps: list[tuple[str, int]],
) -> None:
    lab = FakeLab()
    for _ in range(3):
        lab.add_pod(0)
    lab.add_pod(1)
    peers_kept, builder, views = VethPeers(), GraphBuilder(), {}
    for op, arg in [("start", 0), *steps]:
        if op == "add_pod":
            lab.add_pod(arg % 2)
        elif op.startswith("remove_pod"):
            lab.remove_pod(arg, keep_veth=op.endswith("keep_veth"))
        elif op == "rename":
            lab.rename_veth(arg)
        elif op == "pair":
            lab.local_pair(arg % 2)
        elif op == "readdress":
            lab.readdress(arg)
        elif op == "reroute":
            lab.reroute(arg % 2)
        peers = peers_kept.resolve(dict(lab.dumps), lab.nsid_of)
        assert peers == resolve_veth_peers(lab.dumps, lab.nsid_of), op
        kept = Snapshot(1, 0.0, 0.0, *builder.build(_views(lab, views), peers))
        fresh = Snapshot(2, 0.0, 0.0, *GraphBuilder().build(_views(lab, {}), dict(peers)))
        assert kept.same_content(fresh), (op, kept.diff(fresh))
        assert sorted(map(_key, kept.edges)) == sorted(map(_key, fresh.edges))  # no doubles
        assert {n["id"]: n for n in kept.nodes} == {n["id"]: n for n in fresh.nodes}, op
        assert {_key(e): e for e in kept.edges} == {_key(e): e for e in fresh.edges}, op


def _key(edge: dict) -> tuple[str, str]:
    return tuple(sorted((edge["source"], edge["target"])))  # type: ignore[return-value]


def test_an_unchanged_reading_keeps_the_same_dicts_and_pairing() -> None:
    lab = FakeLab()
    lab.add_pod(0)
    peers_kept, builder, views = VethPeers(), GraphBuilder(), {}
    peers = peers_kept.resolve(dict(lab.dumps), lab.nsid_of)
    nodes, edges = builder.build(_views(lab, views), peers)
    assert peers_kept.resolve(dict(lab.dumps), lab.nsid_of) is peers
    lab.local_pair(0)  # in the node: its other interfaces' dicts stay, and the pod's
    peers = peers_kept.resolve(dict(lab.dumps), lab.nsid_of)
    after, after_edges = builder.build(_views(lab, views), peers)
    kept = {id(n) for n in nodes}
    fresh = [n["id"] for n in after if id(n) not in kept]
    assert sorted(fresh) == ["if:cnilab-node1:la2", "if:cnilab-node1:lb2"]
    old_edges = {id(e) for e in edges}
    assert len([e for e in after_edges if id(e) not in old_edges]) == 3  # 2 members, 1 veth

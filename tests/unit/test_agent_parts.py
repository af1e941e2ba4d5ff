"""The pure parts of node agents: scope, tagging, merging, lookup, path order, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lab.agent.client import AgentConfigError, AgentRef, agent_refs, load_agents_file
from lab.agent.merge import Directory, DirectoryError, Part, merge_snapshots
from lab.agent.scope import NodeScope, ScopeError
from lab.agent.tag import guess_node_ip, tag_snapshot
from lab.trace.capture import Frame
from lab.trace.order import Sighting, order_by_path, path_hops
from lab.trace.packets import REPLY, REQUEST, Seen
from lab.trace.probe import Probe


def test_scope_picks_the_node_and_its_pods() -> None:
    s = NodeScope("node1", "lab-node1", pods_prefix="lab-n1-")
    assert s.selects("lab-node1") and s.selects("lab-n1-a")
    assert not s.selects("lab-n2-c") and not s.is_pod("lab-node1")
    assert s.pod_label("lab-n1-a") == "a" and s.label("lab-node1") == "node1"
    assert s.local_of("node1/lab-n1-a") == "lab-n1-a" == s.local_of("lab-n1-a")
    with pytest.raises(ScopeError, match="not a namespace of node1"):
        s.local_of("node2/lab-n2-c")
    listed = NodeScope("node1", "lab-node1", pods=("x",))
    assert listed.selects("x") and not listed.selects("y")


def test_scope_on_a_real_node_serves_the_host_and_every_namespace() -> None:
    s = NodeScope("node1")
    assert s.node_netns == "host" and s.where("host") == "/proc/self/ns/net"
    assert s.selects("cnilab-web") and s.selects("cni-1234") and not s.is_pod("host")
    assert s.pod_label("cnilab-web") == "web" and s.pod_label("cni-1234") == "cni-1234"
    assert s.qualify("host") == "node1/host"


@pytest.mark.parametrize("bad", [{"node": "Node 1"}, {"node": "n", "netns": "../x"}])
def test_scope_refuses_bad_names(bad: dict[str, Any]) -> None:
    with pytest.raises(ScopeError):
        NodeScope(**bad)


def snapshot() -> dict[str, Any]:
    """What the inspector gives for a node namespace and one pod (abridged)."""
    ns = {"type": "namespace", "kind": "other", "node": "", "pod": None}
    node_routes = [
        {"dst": "default", "gateway": "10.0.2.2", "dev": "nat0"},
        {"dst": "10.244.1.0/24", "gateway": "192.168.56.12", "dev": "eth0"},
    ]
    iface = {"type": "interface", "kind": "veth", "fdb": []}
    return {
        "directed": False,
        "graph": {"seq": 3},
        "nodes": [
            {**ns, "id": "ns:lab-node1", "name": "lab-node1", "routes": node_routes},
            {**ns, "id": "ns:lab-n1-a", "name": "lab-n1-a", "routes": []},
            {**iface, "id": "if:lab-node1:eth0", "ns": "lab-node1", "name": "eth0",
             "index": 2, "addresses": ["192.168.56.11/24"], "master": None, "peer": None},
            {**iface, "id": "if:lab-node1:nat0", "ns": "lab-node1", "name": "nat0",
             "index": 3, "addresses": ["10.0.2.15/24"], "master": None, "peer": None},
            {**iface, "id": "if:lab-node1:cni0", "ns": "lab-node1", "name": "cni0",
             "kind": "bridge", "index": 4, "addresses": ["10.244.0.1/24"], "master": None,
             "peer": None, "fdb": [{"mac": "aa", "port": "if:lab-node1:veth1"}]},
            {**iface, "id": "if:lab-node1:veth1", "ns": "lab-node1", "name": "veth1",
             "index": 5, "addresses": [], "master": "if:lab-node1:cni0",
             "peer": "if:lab-n1-a:eth0"},
            {**iface, "id": "if:lab-n1-a:eth0", "ns": "lab-n1-a", "name": "eth0", "index": 2,
             "addresses": ["10.244.0.2/24"], "master": None, "peer": "if:lab-node1:veth1"},
        ],
        "edges": [
            {"source": "ns:lab-node1", "target": "if:lab-node1:eth0", "kind": "member"},
            {"source": "if:lab-n1-a:eth0", "target": "if:lab-node1:veth1", "kind": "veth",
             "underlay": True},
            {"source": "if:lab-node1:veth1", "target": "if:lab-node1:cni0",
             "kind": "bridge-port", "port": "if:lab-node1:veth1", "bridge": "if:lab-node1:cni0"},
        ],
    }  # fmt: skip


def test_tagging_qualifies_every_id_and_names_roles() -> None:
    raw = snapshot()
    before = json.dumps(raw)
    out = tag_snapshot(raw, NodeScope("node1", "lab-node1", pods_prefix="lab-n1-"))
    assert json.dumps(raw) == before  # the input is left alone
    by_id = {n["id"]: n for n in out["nodes"]}
    node, pod = by_id["ns:node1/lab-node1"], by_id["ns:node1/lab-n1-a"]
    assert (node["kind"], node["node"], node["label"], node["netns"]) == (
        "node", "node1", "node1", "lab-node1"
    )  # fmt: skip
    assert (pod["kind"], pod["node"], pod["label"]) == ("pod", "node1", "a")
    veth = by_id["if:node1/lab-node1:veth1"]
    assert veth["ns"] == "node1/lab-node1" and veth["peer"] == "if:node1/lab-n1-a:eth0"
    assert veth["master"] == "if:node1/lab-node1:cni0"
    assert by_id["if:node1/lab-node1:cni0"]["fdb"][0]["port"] == "if:node1/lab-node1:veth1"
    ids = set(by_id)
    assert all(e["source"] in ids and e["target"] in ids for e in out["edges"])
    port = next(e for e in out["edges"] if e["kind"] == "bridge-port")
    assert port["bridge"] == "if:node1/lab-node1:cni0"
    assert not next(e for e in out["edges"] if e["kind"] == "veth")["underlay"]
    assert out["graph"] == {
        "seq": 3, "node": "node1", "netns": "node1/lab-node1", "node_ip": "192.168.56.11"
    }  # fmt: skip


def test_node_ip_is_on_the_route_to_other_pods_not_the_nat_adapter() -> None:
    tagged = tag_snapshot(snapshot(), NodeScope("node1", "lab-node1"))["nodes"]
    assert guess_node_ip(tagged, "node1/lab-node1") == "192.168.56.11"
    given = tag_snapshot(snapshot(), NodeScope("node1", "lab-node1", node_ip="192.0.2.1"))
    assert given["graph"]["node_ip"] == "192.0.2.1"


def two_nodes() -> tuple[dict[str, Any], dict[str, Any]]:
    one = tag_snapshot(snapshot(), NodeScope("node1", "lab-node1", pods_prefix="lab-n1-"))
    raw = json.loads(json.dumps(snapshot()).replace("lab-n1-a", "lab-n2-c"))
    raw = json.loads(json.dumps(raw).replace("10.244.0.2/", "10.244.1.2/"))
    two = tag_snapshot(raw, NodeScope("node2", "lab-node1", pods_prefix="lab-n2-"))
    return one, two


def test_merge_is_the_union_and_says_which_agents_answered() -> None:
    one, two = two_nodes()
    refs = [
        AgentRef("node1", "http://a:1"),
        AgentRef("node2", "http://b:1"),
        AgentRef("node3", "http://c:1"),
    ]
    merged = merge_snapshots(
        [Part(refs[0], one), Part(refs[1], two), Part(refs[2], None, "down")], seq=7
    )
    ids = [n["id"] for n in merged["nodes"]]
    assert len(ids) == len(set(ids)) == len(one["nodes"]) + len(two["nodes"])
    assert "ns:node1/lab-node1" in ids and "ns:node2/lab-node1" in ids  # same name, two hosts
    assert [a["ok"] for a in merged["graph"]["agents"]] == [True, True, False]
    assert merged["graph"]["seq"] == 7 and merged["lab_up"]
    twice = merge_snapshots([Part(refs[0], one), Part(refs[1], one)], seq=1)
    assert "served by agent node1 already" in twice["graph"]["agents"][1]["error"]


def test_directory_finds_pods_and_nodes() -> None:
    book = Directory(list(two_nodes()))
    assert book.pod("a").netns == "node1/lab-n1-a" and book.pod("a").ip == "10.244.0.2"
    assert book.pod("node2/lab-n2-c").node == "node2"
    assert book.resolve("c") == "10.244.1.2"
    assert book.resolve("node1") == "192.168.56.11"
    assert book.resolve("internet") == "203.0.113.1" and book.resolve("1.2.3.4") == "1.2.3.4"
    with pytest.raises(DirectoryError, match="no pod named"):
        book.pod("zz")
    with pytest.raises(DirectoryError, match="not a pod, a node"):
        book.resolve("nowhere")


def hop(agent: str, netns: str, ifname: str, out: bool, t: float, leg: str, ttl: int) -> Sighting:
    seen = Seen(leg, "m1", "m2", "10.244.0.2", "10.244.1.2", ttl, "ICMP")
    return Sighting(agent, Frame(netns, ifname, out, t, b""), seen)


PATH = [  # a -> c across two nodes, as the agents see it; times on one true clock
    ("node1", "a", "eth0", True, 0.000, REQUEST, 64),
    ("node1", "n1", "veth", False, 0.001, REQUEST, 64),
    ("node1", "n1", "cni0", False, 0.002, REQUEST, 64),
    ("node1", "n1", "eth0", True, 0.003, REQUEST, 63),
    ("node2", "n2", "eth0", False, 0.004, REQUEST, 63),
    ("node2", "n2", "cni0", True, 0.005, REQUEST, 62),
    ("node2", "n2", "veth", True, 0.006, REQUEST, 62),
    ("node2", "c", "eth0", False, 0.007, REQUEST, 62),
    ("node2", "c", "eth0", True, 0.008, REPLY, 64),
    ("node2", "n2", "veth", False, 0.009, REPLY, 64),
    ("node2", "n2", "eth0", True, 0.010, REPLY, 63),
    ("node1", "n1", "eth0", False, 0.011, REPLY, 63),
    ("node1", "n1", "veth", True, 0.012, REPLY, 62),
    ("node1", "a", "eth0", False, 0.013, REPLY, 62),
]


@pytest.mark.parametrize("skew", [0.0, 5.0, -5.0, 0.0035])
def test_path_order_does_not_trust_clocks(skew: float) -> None:
    """node2's clock is off by `skew` seconds, and its offset is not known at all."""
    seen = [
        hop(a, n, i, o, t + (skew if a == "node2" else 0), leg, ttl)
        for a, n, i, o, t, leg, ttl in PATH
    ]
    shuffled = seen[::2] + seen[1::2]
    ordered = order_by_path(shuffled, "node1", {})
    assert [(s.frame.netns, s.frame.ifname, s.seen.leg) for s in ordered] == [
        (n, i, leg) for _, n, i, _, _, leg, _ in PATH
    ]
    hops = path_hops(shuffled, "node1", 0.0, {"node2": skew})  # with the offset known
    assert [h.ms for h in hops] == sorted(h.ms for h in hops)
    assert hops[4].ms == pytest.approx(4.0, abs=0.01)


def test_same_ttl_on_two_nodes_starts_where_the_leg_starts() -> None:
    """a -> node2's own address: the reply leaves node2 and enters node1 both at TTL 64."""
    path = [
        ("node1", "a", "eth0", True, 0.0, REQUEST, 64),
        ("node1", "n1", "eth0", True, 0.1, REQUEST, 63),
        ("node2", "n2", "eth0", False, 0.2, REQUEST, 63),
        ("node2", "n2", "eth0", True, 0.3, REPLY, 64),
        ("node1", "n1", "eth0", False, 0.4, REPLY, 64),
        ("node1", "a", "eth0", False, 0.5, REPLY, 63),
    ]
    seen = [
        hop(a, n, i, o, t + (-9 if a == "node2" else 0), g, ttl) for a, n, i, o, t, g, ttl in path
    ]
    ordered = order_by_path(seen, "node1", {})
    assert [s.agent for s in ordered] == [p[0] for p in path]


def test_probe_marker_round_trip_and_refusals() -> None:
    probe = Probe("udp", "10.244.1.2", 53)
    again = Probe.from_marker(json.loads(json.dumps(probe.marker())))
    assert (again.token, again.sport, again.ident, again.port) == (
        probe.token, probe.sport, probe.ident, 53
    )  # fmt: skip
    for bad, words in [
        ({**probe.marker(), "proto": "sctp"}, "'proto'"),
        ({**probe.marker(), "dst": "nope"}, "'dst'"),
        ({**probe.marker(), "token": "x"}, "must start with"),
        ({**probe.marker(), "sport": True}, "'sport'"),
        ("text", "JSON object"),
    ]:
        with pytest.raises(ValueError, match=words):
            Probe.from_marker(bad)


FP = "ab" * 32


def test_agents_config(tmp_path: Path) -> None:
    token, pin = tmp_path / "token", tmp_path / "node1.fingerprint"
    token.write_text("s3cret\n")
    pin.write_text(FP.upper() + "\n")
    item = {"name": "node1", "url": "https://10.0.0.1:8081/", "token_file": str(token)}
    refs = agent_refs({"agents": [{**item, "fingerprint_file": str(pin)}]})
    assert refs == [AgentRef("node1", "https://10.0.0.1:8081", "s3cret", FP)]
    colons = ":".join(FP[i : i + 2] for i in range(0, 64, 2))
    assert agent_refs([{**item, "fingerprint": f"sha256:{colons}"}])[0].fingerprint == FP
    local = agent_refs([{"name": "n1", "url": "http://127.0.0.1:8081"}])[0]
    assert (local.url, local.fingerprint) == ("http://127.0.0.1:8081", "")
    for bad, words in [
        ([{"name": "Node 1", "url": "https://x:1"}], "'name'"),
        ([{"name": "n1", "url": "ftp://x"}], "'url'"),
        ([{"name": "n1", "url": "https://x:1/v1?a", "fingerprint": FP}], "nothing more"),
        ([{"name": "n1", "url": "https://x", "fingerprint": FP}], "HOST:PORT"),
        ([{"name": "n1", "url": "http://10.0.0.1:1"}], "over https only"),
        ([{"name": "n1", "url": "https://x:1"}], "'fingerprint'"),
        ([{"name": "n1", "url": "https://x:1", "fingerprint": "12"}], "64 hex digits"),
        ([{"name": "n1", "url": "https://x:1", "fingerprint_file": "/nonexistent"}], "cannot"),
        ([{"name": "n1", "url": "http://[::1]:1"}, {"name": "n1", "url": "http://[::1]:2"}],
         "same name"),
        ("nope", "must be a list"),
    ]:  # fmt: skip
        with pytest.raises(AgentConfigError, match=words):
            agent_refs(bad)
    path = tmp_path / "agents.json"
    path.write_text("{not json")
    with pytest.raises(AgentConfigError, match=r"agents\.json"):
        load_agents_file(path)


def test_an_unreachable_agent_is_reported_not_fatal() -> None:
    import threading

    from lab.agent.follow import follow_agents

    stop = threading.Event()
    refs = [AgentRef("node1", "http://127.0.0.1:1", "t")]  # nothing listens on port 1
    changes = follow_agents(refs, stop, long_poll=0.5)
    try:
        merged = next(changes)
    finally:
        stop.set()
        changes.close()
    agent = merged["graph"]["agents"][0]
    assert not agent["ok"] and "no answer from http://127.0.0.1:1" in agent["error"]
    assert merged["nodes"] == [] and not merged["lab_up"]


def test_serve_refuses_a_bad_agents_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lab.cli.main import cli

    path = tmp_path / "agents.json"
    path.write_text(json.dumps([{"name": "node1", "url": "nope"}]))
    out = CliRunner().invoke(cli, ["serve", "--agents", str(path)])
    assert out.exit_code == 2 and "'url' must be https://HOST:PORT" in out.output


def test_clock_offset_is_ntps_and_small_ones_are_left_alone() -> None:
    from lab.agent.client import AgentClient, Clock
    from lab.agent.coordinator import _correction

    client = AgentClient(AgentRef("node2", "http://x:1"))
    # agent 5 s ahead, 1 ms each way, 50 ms spent on the request
    client._sample(105.001, 105.051, 100.0, 100.052)
    assert client.clock is not None
    assert client.clock.offset == pytest.approx(5.0) and client.clock.delay == pytest.approx(0.002)
    client._sample(105.5, 105.6, 100.2, 100.4)  # a slower exchange does not replace it
    assert client.clock.offset == pytest.approx(5.0)
    assert _correction(client) == pytest.approx(5.0)
    client.clock = Clock(offset=0.0004, delay=0.003)  # within its own uncertainty
    assert _correction(client) == 0.0

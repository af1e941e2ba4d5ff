"""Routes and masquerade on the graph, read from a real lab: right ends, right fields,
no edge for a next hop nobody holds, and rule changes followed live."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.inspect import Inspector, Snapshot, Watcher, if_id, ns_id
from tests.inspect.conftest import Lab

pytestmark = pytest.mark.root

SETTLE = 10.0
MASQ = """table ip cnilab {
  chain postrouting {
    type nat hook postrouting priority 100
    ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade \\
      comment "pods leaving the pod network"
  }
}
table inet decoy {
  chain postrouting {
    type nat hook postrouting priority 100
    ip saddr 10.9.9.9 accept comment "not a masquerade"
  }
}
"""


def _edges(snap: Snapshot, kind: str) -> dict[tuple[str, str], dict]:
    found = {}
    for a, b, d in snap.graph.edges(data=True):
        if d["kind"] == kind:
            source = a if a.startswith("ns:") else b
            found[(source, b if source == a else a)] = d
    return found


def _ok(out: str) -> None:
    assert not out.strip(), out


def test_node_routes_and_pod_default_routes_are_edges_to_their_next_hop(lab: Lab) -> None:
    n1, n2 = lab.nodes
    _ok(n1.sh("ip", "route", "add", "10.250.0.0/24", "via", "192.168.56.12"))  # same next hop
    _ok(n1.sh("ip", "route", "add", "172.16.9.0/24", "via", "10.0.0.2"))  # node2, by ul0
    _ok(n1.sh("ip", "route", "add", "172.16.8.0/24", "via", "192.168.56.99"))  # held by nobody
    _ok(n2.sh("ip", "route", "add", "172.16.7.0/24", "via", "10.244.1.2"))  # a pod: not a node
    with Inspector(lab.plan) as inspector:
        snap = inspector.snapshot()

    routes = _edges(snap, "route")
    assert set(routes) == {
        (ns_id(n1.name), if_id(n2.name, "eth1")),
        (ns_id(n1.name), if_id(n2.name, "ul0")),
        (ns_id(n2.name), if_id(n1.name, "eth1")),
    }
    to_n2 = routes[(ns_id(n1.name), if_id(n2.name, "eth1"))]
    assert to_n2["cidrs"] == ["10.244.1.0/24", "10.250.0.0/24"]
    assert to_n2["cidr"] == "10.244.1.0/24"
    assert (to_n2["via"], to_n2["dev"]) == ("192.168.56.12", "eth1")
    assert (to_n2["node"], to_n2["to_node"]) == ("node1", "node2")
    by_ul0 = routes[(ns_id(n1.name), if_id(n2.name, "ul0"))]
    assert (by_ul0["cidr"], by_ul0["via"], by_ul0["dev"]) == ("172.16.9.0/24", "10.0.0.2", "ul0")
    back = routes[(ns_id(n2.name), if_id(n1.name, "eth1"))]
    assert (back["cidrs"], back["via"]) == (["10.244.0.0/24"], "192.168.56.11")

    defaults = _edges(snap, "default-route")
    assert len(defaults) == len(lab.pods)
    for pod in lab.pods.values():
        gateway = "10.244.0.1" if pod.node is n1 else "10.244.1.1"
        edge = defaults[(ns_id(pod.netns), if_id(pod.node.name, "cni0"))]
        assert (edge["via"], edge["dev"]) == (gateway, "eth0")
    # and in the node-link JSON the page reads, with the same fields
    data = json.loads(snap.to_json())
    shown = [e for e in data["edges"] if e["kind"] == "route"]
    assert {(e["cidr"], e["via"], e["dev"]) for e in shown} == {
        ("10.244.1.0/24", "192.168.56.12", "eth1"),
        ("172.16.9.0/24", "10.0.0.2", "ul0"),
        ("10.244.0.0/24", "192.168.56.11", "eth1"),
    }


def test_masquerade_rules_are_marked_on_their_node_and_followed_live(
    lab: Lab, tmp_path: Path
) -> None:
    n1, n2 = lab.nodes
    rules_file = tmp_path / "masq.nft"
    rules_file.write_text(MASQ)
    _ok(n1.sh("nft", "-f", str(rules_file)))
    with Inspector(lab.plan) as inspector, Watcher(inspector) as watcher:
        snap = watcher.wait(timeout=SETTLE)
        assert snap is not None
        rules = snap.graph.nodes[ns_id(n1.name)]["masquerade"]
        assert [(r["family"], r["table"], r["chain"], r["comment"]) for r in rules] == [
            ("ip", "cnilab", "postrouting", "pods leaving the pod network")
        ]
        assert rules[0]["handle"] > 0
        assert snap.graph.nodes[ns_id(n2.name)]["masquerade"] == []
        pod = next(iter(lab.pods.values()))
        assert "masquerade" not in snap.graph.nodes[ns_id(pod.netns)]

        _ok(n2.sh("nft", "add", "table", "inet", "pycni"))
        _ok(
            n2.sh(
                "nft", "add", "chain", "inet", "pycni", "postrouting",
                "{ type nat hook postrouting priority 100 ; }",
            )
        )  # fmt: skip
        _ok(
            n2.sh(
                "nft", "add", "rule", "inet", "pycni", "postrouting",
                "ip", "saddr", "10.244.1.2", "masquerade", "comment", '"tag-c"',
            )
        )  # fmt: skip
        seen = watcher.wait_for(
            lambda s: (
                [r["comment"] for r in s.graph.nodes[ns_id(n2.name)]["masquerade"]] == ["tag-c"]
            ),
            SETTLE,
        )
        assert seen is not None, "a new masquerade rule was not published by itself"

        _ok(n1.sh("nft", "delete", "table", "ip", "cnilab"))
        gone = watcher.wait_for(lambda s: s.graph.nodes[ns_id(n1.name)]["masquerade"] == [], SETTLE)
        assert gone is not None, "a removed masquerade rule stayed on the graph"
        assert [r["table"] for r in gone.graph.nodes[ns_id(n2.name)]["masquerade"]] == ["pycni"]

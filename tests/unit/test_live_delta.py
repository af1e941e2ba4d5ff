"""Finer topology deltas: a changed node's long lists travel as splices, exactly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.live.delta import SPLICE_FROM, apply_delta, apply_patch, diff, patch, splice
from lab.live.topology_feed import feed


def fdb(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"mac": f"02:00:00:00:{i // 256:02x}:{i % 256:02x}", "port": f"if:v{i}"} for i in
            range(start, start + n)]  # fmt: skip


def bridge(entries: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": "if:node1:cni0", "type": "interface", "mtu": 1500, "fdb": entries, **extra}


def travel(value: Any) -> Any:
    return json.loads(json.dumps(value))


items = st.lists(st.integers(0, 30), max_size=25)


@settings(max_examples=300, derandomize=True)
@given(items, items)
def test_a_splice_turns_the_old_list_into_the_new_one_in_order(old: list, new: list) -> None:
    node = apply_patch(
        {"id": "x", "l": old}, travel({"id": "x", "set": {}, "splice": {"l": splice(old, new)}})
    )
    assert node["l"] == new


@settings(max_examples=200, derandomize=True)
@given(items, items, st.integers(0, 2), st.integers(0, 2), st.booleans())
def test_a_patched_node_equals_the_new_node(
    old_l: list, new_l: list, old_v: int, new_v: int, drop: bool
) -> None:
    old = {"id": "n", "l": old_l, "v": old_v, "gone": 1}
    new = {"id": "n", "l": new_l, "v": new_v, **({} if drop else {"gone": 1}), "fresh": [1]}
    assert apply_patch(old, travel(patch(old, new))) == new


def test_one_new_fdb_entry_in_250_is_one_small_splice() -> None:
    before = {"graph": {"seq": 1}, "nodes": [bridge(fdb(250))], "edges": []}
    entries = fdb(250)
    entries.insert(137, {"mac": "02:aa:bb:cc:dd:ee", "port": "if:new"})  # where the kernel put it
    after = {"graph": {"seq": 2}, "nodes": [bridge(entries, mtu=9000)], "edges": []}
    delta = travel(diff(before, after, 1, 2))
    assert delta["nodes"]["changed"] == []
    (p,) = delta["nodes"]["patched"]
    assert p["set"] == {"mtu": 9000} and p["unset"] == []
    assert p["splice"] == {"fdb": [[137, 0, [{"mac": "02:aa:bb:cc:dd:ee", "port": "if:new"}]]]}
    assert apply_delta(before, delta)["nodes"] == after["nodes"]
    assert len(json.dumps(delta)) < 600


def test_short_lists_and_unpatchable_changes_go_whole() -> None:
    short = fdb(SPLICE_FROM - 1)
    before = {"nodes": [bridge(short), {"id": "ns:a", "routes": fdb(20)}], "edges": []}
    after = {
        "nodes": [bridge(short[:-1]), {"id": "ns:a", "routes": fdb(20, start=100)}],
        "edges": [],
    }
    delta = travel(diff(before, after, 1, 2))
    # a short list has nothing to splice; a list replaced outright is no smaller as a patch
    assert sorted(n["id"] for n in delta["nodes"]["changed"]) == ["if:node1:cni0", "ns:a"]
    assert delta["nodes"]["patched"] == []
    assert sorted(apply_delta(before, delta)["nodes"], key=lambda n: n["id"]) == after["nodes"]


def test_a_patch_for_a_node_the_client_does_not_have_is_ignored() -> None:
    before = {"nodes": [bridge(fdb(40))], "edges": []}
    after = {"nodes": [bridge(fdb(41))], "edges": []}
    delta = travel(diff(before, after, 1, 2))
    assert delta["nodes"]["patched"]
    assert apply_delta({"nodes": [], "edges": []}, delta)["nodes"] == []


def test_a_pod_added_beside_250_is_a_delta_of_a_few_kib() -> None:
    neighbours = [{"ip": f"10.244.0.{i}", "mac": f"02:00:00:00:00:{i:02x}"} for i in range(250)]
    node_ns = {"id": "ns:node1", "type": "namespace", "neighbours": neighbours, "routes": fdb(5)}
    pods = [{"id": f"ns:p{i}", "type": "namespace", "routes": fdb(3)} for i in range(500)]
    before = {"graph": {"seq": 1}, "nodes": [node_ns, bridge(fdb(250)), *pods], "edges": []}
    grown = {
        **node_ns,
        "neighbours": [*neighbours, {"ip": "10.244.0.251", "mac": "02:00:00:00:00:fb"}],
    }
    new_pod = {"id": "ns:p500", "type": "namespace", "routes": fdb(3)}
    after = {"graph": {"seq": 2}, "nodes": [grown, bridge(fdb(251)), *pods, new_pod], "edges": []}
    _, second = feed(iter([before, after]))
    assert second.delta_event is not None
    assert len(second.delta_event) < 2048 < len(second.full_event) / 10
    delta = json.loads(second.delta_event.split("data: ", 1)[1])
    assert {n["id"] for n in apply_delta(before, delta)["nodes"]} == {
        n["id"] for n in after["nodes"]
    }


def _graph(nodes: dict[str, int], edges: dict[tuple[str, str], int]) -> dict[str, Any]:
    return {
        "graph": {},
        "nodes": [{"id": k, "v": v} for k, v in nodes.items()],
        "edges": [{"source": a, "target": b, "v": v} for (a, b), v in edges.items()],
    }


names = st.sampled_from([f"n{i}" for i in range(10)])
graphs = st.builds(
    _graph,
    st.dictionaries(names, st.integers(0, 2), max_size=10),
    st.dictionaries(st.tuples(names, names).map(lambda p: tuple(sorted(p))), st.integers(0, 2)),
)


@settings(max_examples=300, derandomize=True)
@given(graphs, graphs, st.lists(st.booleans(), min_size=40, max_size=40))
def test_dicts_shared_with_the_old_snapshot_give_the_delta_copies_give(
    old: dict, other: dict, share: list[bool]
) -> None:
    """The new snapshot shares some of the old one's dicts (what did not change), as
    the inspector's are: set aside by identity, the delta is the same as when every
    dict is a copy and all are compared."""
    reuse = iter(share)
    before_nodes = {n["id"]: n for n in old["nodes"]}
    before_edges = {(e["source"], e["target"]): e for e in old["edges"]}
    new = {
        "graph": {},
        "nodes": [
            before_nodes[n["id"]] if n["id"] in before_nodes and next(reuse, False) else n
            for n in other["nodes"]
        ],
        "edges": [
            before_edges[(e["source"], e["target"])]
            if (e["source"], e["target"]) in before_edges and next(reuse, False)
            else e
            for e in other["edges"]
        ],
    }
    shared = diff(old, new, 1, 2)
    assert shared == diff(travel(old), travel(new), 1, 2)
    got = apply_delta(old, travel(shared))
    assert sorted(got["nodes"], key=lambda n: n["id"]) == sorted(
        new["nodes"], key=lambda n: n["id"]
    )

"""The live layer without a lab: the hub's waiting, topology deltas, the shared feed."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.live.delta import apply_delta, diff, edge_key
from lab.live.hub import Hub
from lab.live.topology_feed import feed


def snap(nodes: dict[str, Any], edges: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "graph": {"seq": len(nodes)},
        "lab_up": True,
        "nodes": [{"id": k, "v": v} for k, v in nodes.items()],
        "edges": [{"source": a, "target": b, "kind": k} for a, b, k in edges],
    }


def canonical(s: dict[str, Any]) -> dict[str, Any]:
    return {
        **s,
        "nodes": sorted(s["nodes"], key=lambda n: n["id"]),
        "edges": sorted(s["edges"], key=edge_key),
    }


ids = st.sampled_from([f"n{i}" for i in range(12)])
snapshots = st.builds(
    snap,
    st.dictionaries(ids, st.integers(0, 3), max_size=12),
    st.lists(st.tuples(ids, ids, st.sampled_from(["veth", "port"])), max_size=10),
).map(lambda s: {**s, "edges": list({edge_key(e): e for e in s["edges"]}.values())})


@settings(max_examples=300, derandomize=True)
@given(snapshots, snapshots)
def test_a_delta_applied_gives_the_new_snapshot(old: dict, new: dict) -> None:
    delta = json.loads(json.dumps(diff(old, new, 1, 2)))  # as it travels
    assert canonical(apply_delta(old, delta)) == canonical(new)


def test_one_pod_more_is_a_small_delta() -> None:
    nodes = {f"if:{i}": i for i in range(1000)}
    before = snap(nodes, [(f"if:{i}", f"if:{i + 1}", "veth") for i in range(0, 999, 2)])
    after = snap({**nodes, "ns:new": 0, "if:new": 1}, [("if:new", "if:0", "veth")])
    after["edges"] = before["edges"] + after["edges"]
    first, second = feed(iter([before, after]))
    assert first.delta_event is None and second.delta_event is not None
    assert len(second.delta_event) < len(second.full_event) / 20
    assert second.event_for(1, deltas=True) == second.delta_event
    assert second.event_for(0, deltas=True) == second.full_event  # fell behind: in full
    assert second.event_for(1, deltas=False) == second.full_event
    assert json.loads(second.full_event.split("data: ", 1)[1])["version"] == 2


def test_everything_new_is_sent_in_full() -> None:
    _, second = feed(iter([snap({"a": 1}, []), snap({"b": 1, "c": 2}, [])]))
    assert second.delta_event is None


def test_readers_wait_for_what_changed_since_their_version() -> None:
    hub = Hub()
    hub.publish("calls", [1])
    version, changed = hub.wait(0, timeout=1)
    assert changed == {"calls": [1]}
    got: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: got.append(hub.wait(version, timeout=5)[1]))
    reader.start()
    time.sleep(0.05)
    hub.publish("topology", "t1")
    reader.join(5)
    assert got == [{"topology": "t1"}]
    assert hub.wait(hub.version, timeout=0.01)[1] == {}
    hub.stop()
    assert hub.wait(hub.version, timeout=5)[1] == {}  # a stopped hub wakes its readers


def test_a_failing_source_is_started_again() -> None:
    hub = Hub()
    runs: list[int] = []

    def source(stop: threading.Event):  # type: ignore[no-untyped-def]
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("boom")
        yield "ok"
        stop.wait()

    hub.follow("x", source)
    assert hub.get("x", timeout=5) == "ok"
    hub.stop()

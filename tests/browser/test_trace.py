"""The packet tracer on the main page, in a real Chromium on a real lab: the form, the hop
table (request then reply, TTL 64/63/62 across two nodes), the packet animated over the
graph hop by hop with the table following it, a click on a row, and a drop explained."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, wait_for_graph, wait_pod_wired
from tests.conftest import RunningLab

pytestmark = [pytest.mark.root, pytest.mark.browser]

# Every value the table's "current row" takes, in order (the animation's footprint in the DOM).
RECORD_CURRENT = """() => {
  const dock = document.querySelector('[data-testid=trace]');
  window.__currentRows = [];
  new MutationObserver(() => {
    const row = dock.querySelector('[data-testid=hop-row][aria-current=step]');
    const index = row ? Number(row.dataset.index) : null;
    const seen = window.__currentRows;
    if (index !== null && seen[seen.length - 1] !== index) seen.push(index);
  }).observe(dock, { subtree: true, attributes: true, attributeFilter: ['aria-current'] });
}"""
PLAYED = """() => {
  const s = window.cnilab.trace.state;
  return s.total > 0 && !s.running && s.visited.length === s.total;
}"""


@pytest.fixture(scope="module")
def two_pods(lab: RunningLab) -> Iterator[None]:
    lab.runtime.add("web", "node1")
    lab.runtime.add("db", "node2")
    try:
        yield
    finally:
        for pod in ("web", "db"):
            if lab.runtime.get(pod):
                lab.runtime.delete(pod)


def open_lab(page: Any, serve: Callable[..., str], lab: RunningLab) -> None:
    page.goto(serve())
    wait_for_graph(page)
    wait_pod_wired(page, lab, "db", "node2", 5_000)
    wait_pod_wired(page, lab, "web", "node1", 5_000)


def test_trace_across_nodes_shows_hops_and_animates_them(
    lab: RunningLab, serve: Callable[..., str], page: Any, two_pods: None
) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    open_lab(page, serve, lab)
    assert page.locator("[data-testid=trace-src]").input_value() == "web"
    assert page.locator("[data-testid=trace-dst]").input_value() == "db"  # the pod on node2
    page.evaluate(RECORD_CURRENT)
    page.click("[data-testid=trace-run]")

    rows = page.locator("[data-testid=hop-row]")
    rows.first.wait_for(timeout=15_000)
    assert page.locator("[data-testid=trace-outcome]").text_content() == "reply received"
    assert page.locator("[data-testid=trace-why]").count() == 0
    legs = rows.evaluate_all("rows => rows.map(r => r.dataset.leg)")
    first_reply = legs.index("reply")
    assert set(legs[:first_reply]) == {"request"} and set(legs[first_reply:]) == {"reply"}
    ttls = [int(t) for t in rows.locator("[data-col=ttl]").all_text_contents()]
    assert ttls[:first_reply][0] == 64 and ttls[:first_reply][-1] == 62  # routed twice
    assert {64, 63, 62} <= set(ttls[:first_reply]) and {64, 63, 62} <= set(ttls[first_reply:])
    text = page.locator("[data-testid=trace-hops]").text_content()
    assert "routed by node1" in text and "delivered to pod db" in text

    # the packet goes over every hop, in order, the table's current row with it
    page.wait_for_function(PLAYED, timeout=len(legs) * 400 + 5_000)
    assert page.evaluate("window.__currentRows") == list(range(len(legs)))
    hops = page.evaluate("window.cnilab.trace.state.result.hops")
    last_if = f"if:{hops[-1]['netns']}:{hops[-1]['ifname']}"
    graph = page.evaluate(
        """(lastIf) => {
          const cy = window.cnilab.cy;
          const dot = cy.getElementById('trace:packet');
          return {
            dot: dot.nonempty(), label: dot.data('label'), leg: dot.data('leg'),
            current: cy.nodes('.trace-current').map(n => n.id()),
            path: cy.edges('.trace-path').length,
            cable: cy.edges('.trace-path[kind = "veth"][?underlay]').length,
            lastIfSeen: cy.getElementById(lastIf).hasClass('trace-seen'),
          };
        }""",
        last_if,
    )
    assert graph["dot"] and graph["label"] == "62" and graph["leg"] == "reply"
    assert graph["current"] == [last_if] and graph["lastIfSeen"]
    assert graph["path"] >= 8 and graph["cable"] == 2  # veths, bridge ports, both cables

    # a click on a row puts the packet on that hop: node2's cni0, routed (TTL 62)
    routed = next(i for i, h in enumerate(hops) if h["node"] == "node2" and h["ifname"] == "cni0")
    rows.nth(routed).click()
    cni0 = f"if:{lab.plan.node('node2').netns}:cni0"
    assert page.evaluate("window.cnilab.cy.nodes('.trace-current').map(n => n.id())") == [cni0]
    assert rows.nth(routed).get_attribute("aria-current") == "step"
    assert page.evaluate("window.cnilab.cy.getElementById('trace:packet').data('label')") == "62"
    caption = page.locator("[data-testid=trace-caption]")
    assert "node2 cni0 out" in caption.text_content()

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "trace-1920x1080.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    page.click("[data-testid=presentation-toggle]")
    page.wait_for_timeout(400)
    rows.nth(routed).click()
    presented = ARTIFACTS / "trace-presentation.png"
    page.screenshot(path=str(presented))
    print(f"screenshot: {presented}")


def test_trace_to_a_typed_address_explains_the_drop(
    lab: RunningLab, serve: Callable[..., str], page: Any, two_pods: None
) -> None:
    open_lab(page, serve, lab)
    page.check("[data-testid=trace-fast]")
    page.select_option("[data-testid=trace-dst]", "__ip__")
    page.fill("[data-testid=trace-ip]", "10.244.1.77")  # on node2's pod CIDR, no such pod
    page.click("[data-testid=trace-run]")
    why = page.locator("[data-testid=trace-why]")
    why.wait_for(timeout=15_000)
    assert "node2" in why.text_content() and "10.244.1.77" in why.text_content()
    assert page.locator("[data-testid=trace-outcome]").text_content() == "no reply"
    legs = page.locator("[data-testid=hop-row]").evaluate_all("rs => rs.map(r => r.dataset.leg)")
    assert legs and set(legs) == {"request"}
    page.wait_for_function(PLAYED, timeout=10_000)
    assert "no reply" in page.locator("[data-testid=trace-caption]").text_content()

    # not an address: said on the page, nothing sent
    page.fill("[data-testid=trace-ip]", "10.244.1")
    page.click("[data-testid=trace-run]")
    assert "not an IPv4 address" in page.locator("[data-testid=trace-error]").text_content()

"""The graph as people read it, in a real Chromium at 1440x900 on a real lab: labels big
enough in the default view, routes and masquerade drawn, search, focus, the text view.

Also writes docs/graph-3-pods.png (the standard lab with three pods).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import KEEP_TOKEN, wait_for_graph
from tests.conftest import RunningLab

pytestmark = [pytest.mark.root, pytest.mark.browser]

DOCS = Path(__file__).resolve().parents[2] / "docs"
MIN_LABEL_PX = 11
PODS = [("web", "node1"), ("db", "node2"), ("cache", "node1")]
MORE = [(f"p{i}", "node1" if i % 2 else "node2") for i in range(7)]  # 10 pods in all

LABELS = """() => {
  const cy = window.cnilab.cy;
  const zoom = cy.zoom();
  const pane = cy.container().getBoundingClientRect();
  const shown = cy.nodes(':visible').filter(n => n.data('label'));
  const sizes = shown.map(n => ({id: n.id(), px: parseFloat(n.style('font-size')) * zoom}));
  const bb = cy.elements(':visible').renderedBoundingBox();
  return {sizes, zoom, pane: {w: pane.width, h: pane.height}, bb: {w: bb.w, h: bb.h}};
}"""


@pytest.fixture(scope="module")
def pods(lab: RunningLab) -> Iterator[list[str]]:
    made = []
    try:
        for name, node in PODS:
            lab.runtime.add(name, node)
            made.append(name)
        yield made
    finally:
        for name in made:
            lab.runtime.delete(name)


@pytest.fixture
def wide(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(KEEP_TOKEN)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _open(page: Any, url: str, namespaces: int) -> None:
    page.goto(url)
    wait_for_graph(page)
    page.wait_for_function(
        "(n) => window.cnilab.cy.nodes('[type = \"namespace\"]').length >= n", arg=namespaces
    )
    page.wait_for_timeout(300)  # the resize observer's last fit


def _check_labels(page: Any) -> dict[str, Any]:
    got = page.evaluate(LABELS)
    small = [s for s in got["sizes"] if s["px"] < MIN_LABEL_PX]
    assert not small, f"labels under {MIN_LABEL_PX} px at zoom {got['zoom']:.2f}: {small[:5]}"
    # the lab fills the panel: one side or the other nearly spans it
    fill = max(got["bb"]["w"] / got["pane"]["w"], got["bb"]["h"] / got["pane"]["h"])
    assert fill > 0.8, got
    return got


def test_default_view_is_readable_with_routes_and_masquerade(
    lab: RunningLab, pods: list[str], serve: Callable[..., str], wide: Any
) -> None:
    n1, n2 = (n.netns for n in lab.plan.nodes)
    _open(wide, serve(), 3 + len(pods))
    _check_labels(wide)
    drawn = wide.evaluate(
        """() => {
          const cy = window.cnilab.cy;
          return {
            routes: cy.edges('[kind = "route"]').map(e =>
              [e.source().id(), e.target().id(), e.data('label')]).sort(),
            masq: cy.nodes('[?masq]').map(n => n.id()).sort(),
            gateways: cy.edges('[kind = "default-route"]').filter(e => e.visible()).length,
          };
        }"""
    )
    u1, u2 = (n.underlay_ip for n in lab.plan.nodes)
    c1, c2 = (n.pod_cidr for n in lab.plan.nodes)
    assert [r[:2] for r in drawn["routes"]] == sorted(
        [[f"ns:{n1}", f"if:{n2}:eth0"], [f"ns:{n2}", f"if:{n1}:eth0"]]
    )
    labels = {r[0]: r[2] for r in drawn["routes"]}
    assert labels[f"ns:{n1}"] == f"{c2} via {u2} dev eth0"
    assert labels[f"ns:{n2}"] == f"{c1} via {u1} dev eth0"
    assert drawn["masq"] == sorted([f"if:{n1}:eth0", f"if:{n2}:eth0"])
    assert drawn["gateways"] == 0  # on demand only
    wide.locator("[data-testid=show-gateways]").check()
    wide.wait_for_function(  # Cytoscape applies the class's style on its next frame
        "n => window.cnilab.cy.edges('[kind = \"default-route\"]')"
        ".filter(e => e.visible()).length === n",
        arg=len(PODS),
        timeout=10_000,
    )
    shown = wide.evaluate(
        "() => window.cnilab.cy.edges('[kind = \"default-route\"]').filter(e => e.visible())"
        ".map(e => [e.source().id(), e.target().id()])"
    )
    assert sorted(shown) == sorted(
        [f"ns:{lab.plan.pod_netns(p)}", f"if:{n1 if node == 'node1' else n2}:cni0"]
        for p, node in PODS
    )
    wide.locator("[data-testid=show-gateways]").uncheck()
    DOCS.mkdir(exist_ok=True)
    wide.locator("[data-testid=graph]").screenshot(path=str(DOCS / "graph-3-pods.png"))


def test_search_dims_the_rest_and_focus_shows_the_way_out(
    lab: RunningLab, pods: list[str], serve: Callable[..., str], wide: Any
) -> None:
    _open(wide, serve(), 3 + len(pods))
    db = lab.runtime.get("db")
    ip = db.addresses()[0].split("/")[0]
    assert ip.startswith("10.244.1.")
    box = wide.locator("[data-testid=search-input]")
    box.fill(ip)
    wide.wait_for_function("() => document.querySelector('#search-count').textContent !== ''")
    assert wide.locator("[data-testid=search-count]").inner_text().startswith("1 pods")
    db_ns, web_ns = (f"ns:{lab.plan.pod_netns(p)}" for p in ("db", "web"))
    classes = wide.evaluate(
        "(ids) => ids.map(id => window.cnilab.cy.getElementById(id).classes())", [db_ns, web_ns]
    )
    assert "hit" in classes[0] and "dim" not in classes[0]
    assert "dim" in classes[1]
    box.press("Enter")
    focus = wide.evaluate(
        """([db, web, node2]) => {
          const cy = window.cnilab.cy;
          const dim = (id) => cy.getElementById(id).hasClass('dim');
          return {
            selected: cy.$(':selected').map(n => n.id()),
            db: dim(db), web: dim(web), node2: dim(node2),
            route: cy.edges('[kind = "route"]').filter(e => !e.hasClass('dim'))
              .map(e => e.source().id()),
            gateway: cy.edges('[kind = "default-route"]').filter(e => e.visible())
              .map(e => e.source().id()),
          };
        }""",
        [db_ns, web_ns, f"ns:{lab.plan.nodes[1].netns}"],
    )
    assert focus["selected"] == [db_ns]
    assert (focus["db"], focus["node2"], focus["web"]) == (False, False, True)
    assert focus["route"] == [f"ns:{lab.plan.nodes[1].netns}"]  # db's node's way to node1
    assert focus["gateway"] == [db_ns]
    box.fill("no-such-pod-anywhere")
    wide.wait_for_function(
        "() => document.querySelector('#search-count').textContent.startsWith('0 pods')"
    )


def test_text_view_lists_the_same_namespaces_addresses_and_routes(
    lab: RunningLab, pods: list[str], serve: Callable[..., str], wide: Any
) -> None:
    _open(wide, serve(), 3 + len(pods))
    wide.locator("[data-testid=text-view-toggle]").click()
    table = wide.locator("[data-testid=text-view-table]")
    assert table.is_visible()
    bodies = table.locator("tbody")
    names = [lab.plan.pod_netns(p) for p in pods] + [n.netns for n in lab.plan.nodes]
    assert bodies.count() >= len(names)
    for pod in pods:
        address = lab.runtime.get(pod).addresses()[0]
        row = table.locator(f"tbody[data-ns='ns:{lab.plan.pod_netns(pod)}']")
        assert address in row.inner_text()
        assert "default via" in row.inner_text()
    node1 = table.locator(f"tbody[data-ns='ns:{lab.plan.nodes[0].netns}']").inner_text()
    assert f"{lab.plan.nodes[1].pod_cidr} via {lab.plan.nodes[1].underlay_ip}" in node1
    assert "masquerade: ip" in node1
    wide.locator("[data-testid=search-input]").fill("web")
    wide.wait_for_function(
        "() => document.querySelector('[data-testid=text-view-count]')"
        ".textContent.startsWith('1 of')"
    )
    assert lab.plan.pod_netns("db") not in table.inner_text()


def test_ten_pods_still_fill_the_panel_with_readable_labels(
    lab: RunningLab, pods: list[str], serve: Callable[..., str], wide: Any
) -> None:
    made = []
    try:
        for name, node in MORE:
            lab.runtime.add(name, node)
            made.append(name)
        _open(wide, serve(), 3 + len(pods) + len(made))
        _check_labels(wide)
    finally:
        for name in made:
            lab.runtime.delete(name)

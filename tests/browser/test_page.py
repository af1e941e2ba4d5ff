"""The web page in a real Chromium: the graph of a real lab, pods made and removed live,
the CNI transcript, read-only mode, the token, and a screenshot for people to look at."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, wait_for_graph, wait_pod_wired
from tests.conftest import RunningLab

pytestmark = [pytest.mark.root, pytest.mark.browser]

ACTIONS = "[data-role=action], [data-testid=pod-form], [data-testid=pod-delete]"


def ns_of(lab: RunningLab, pod: str) -> str:
    return f"ns:{lab.plan.pod_netns(pod)}"


GONE = "(id) => window.cnilab.cy.getElementById(id).empty()"


def positions(page: Any) -> dict[str, dict[str, float]]:
    return page.evaluate(
        "() => Object.fromEntries(window.cnilab.cy.nodes('[type = \"interface\"]')"
        ".map(n => [n.id(), n.position()]))"
    )


def test_page_draws_both_nodes_side_by_side(
    lab: RunningLab, serve: Callable[..., str], page: Any
) -> None:
    page.goto(serve())
    wait_for_graph(page)
    graph = page.evaluate(
        """(nodeNs) => {
          const cy = window.cnilab.cy;
          const box = (id) => cy.getElementById(id).boundingBox();
          return {
            boxes: cy.nodes('[type = "labnode"]').map(n => n.id()).sort(),
            node1: box('node:node1'), node2: box('node:node2'),
            kinds: [...new Set(cy.nodes('[type = "namespace"]').map(n => n.data('kind')))].sort(),
            nodeNsParent: cy.getElementById(nodeNs).parent().id(),
            cables: cy.edges('[kind = "veth"][?underlay]').length,
          };
        }""",
        f"ns:{lab.plan.nodes[0].netns}",
    )
    assert graph["boxes"] == ["node:node1", "node:node2"]
    assert graph["node1"]["x2"] < graph["node2"]["x1"]  # side by side, node1 on the left
    assert graph["kinds"] == ["internet", "node", "underlay"]
    assert graph["nodeNsParent"] == "node:node1"
    assert graph["cables"] >= 2  # node1 and node2 to the underlay switch
    assert page.locator("[data-testid=empty-state]").is_hidden()
    assert page.locator("[data-testid=pod-form]").is_visible()

    # details of a node's bridge: kind, addresses, its FDB
    page.evaluate("(id) => window.cnilab.graph.select(id)", f"if:{lab.plan.nodes[0].netns}:cni0")
    details = page.locator("[data-testid=details]")
    assert details.locator("[data-testid=if-kind]").text_content() == "bridge"
    assert "10.244.0.1/24" in details.locator("[data-testid=if-addresses]").text_content()


def test_pod_created_from_the_page_appears_wired_to_cni0(
    lab: RunningLab, serve: Callable[..., str], page: Any
) -> None:
    page.goto(serve())
    wait_for_graph(page)
    before = positions(page)

    page.fill("[data-testid=pod-name]", "web")
    page.select_option("[data-testid=pod-node]", "node1")
    started = time.monotonic()
    page.click("[data-testid=pod-create]")
    wait_pod_wired(page, lab, "web", "node1", 2_000)
    print(f"pod drawn {time.monotonic() - started:.2f} s after the click")

    after = positions(page)
    assert {k: after[k] for k in before} == before  # nothing that was there has moved
    # the transcript shows the ADD, and it expands to env, stdin and stdout
    call = page.locator("[data-testid=call]").first
    call.wait_for(timeout=2_000)
    assert "ADD" in call.text_content() and "pycni" in call.text_content()
    call.locator("summary").click()
    assert "CNI_COMMAND" in call.locator("[data-testid=call-env]").text_content()
    assert '"cniVersion"' in call.locator("[data-testid=call-stdin]").text_content()
    assert "10.244.0." in call.locator("[data-testid=call-stdout]").text_content()

    # a pod's details: its container ID and its routes
    page.evaluate("(id) => window.cnilab.graph.select(id)", ns_of(lab, "web"))
    pod = lab.runtime.get("web")
    assert pod is not None
    details = page.locator("[data-testid=details]")
    assert details.locator("[data-testid=ns-container-id]").text_content() == pod.container_id
    assert "default" in details.locator("[data-testid=routes]").text_content()

    # the same name again: the server's error, shown on the page
    page.fill("[data-testid=pod-name]", "web")
    page.click("[data-testid=pod-create]")
    error = page.locator("[data-testid=action-error]")
    error.wait_for(state="visible", timeout=5_000)
    assert "web" in error.text_content() and "eth0" in error.text_content()

    # and the delete button of the selected pod
    page.click("[data-testid=pod-delete]")
    page.wait_for_function(GONE, arg=ns_of(lab, "web"), timeout=5_000)
    assert lab.runtime.get("web") is None


def test_pod_deleted_outside_the_page_disappears(
    lab: RunningLab, serve: Callable[..., str], page: Any
) -> None:
    page.goto(serve())
    wait_for_graph(page)
    lab.runtime.add("db", "node2")
    wait_pod_wired(page, lab, "db", "node2", 5_000)
    lab.runtime.delete("db")
    page.wait_for_function(GONE, arg=ns_of(lab, "db"), timeout=5_000)
    assert page.evaluate(GONE, f"if:{lab.plan.pod_netns('db')}:eth0")


def test_read_only_page_has_no_action_at_all(
    lab: RunningLab, serve: Callable[..., str], page: Any
) -> None:
    lab.runtime.add("ro", "node1")
    try:
        page.goto(serve(READ_ONLY=True))
        wait_for_graph(page)
        wait_pod_wired(page, lab, "ro", "node1", 5_000)
        assert page.locator("[data-testid=read-only-badge]").is_visible()
        assert page.locator(ACTIONS).count() == 0
        assert page.locator("form:not([role=search])").count() == 0  # searching changes nothing
        page.evaluate("(id) => window.cnilab.graph.select(id)", ns_of(lab, "ro"))
        assert page.locator("[data-testid=ns-pod]").text_content() == "ro"
        assert page.locator(ACTIONS).count() == 0  # no delete button on a selected pod
    finally:
        lab.runtime.delete("ro")


def test_token_from_the_address_bar_is_kept_and_sent(
    lab: RunningLab, serve: Callable[..., str], page: Any
) -> None:
    base = serve(TOKEN="s3cret-token")
    page.goto(f"{base}/?token=s3cret-token")
    wait_for_graph(page)
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.getItem('cnilab-token')") == "s3cret-token"
    page.fill("[data-testid=pod-name]", "tok")
    page.click("[data-testid=pod-create]")
    try:
        wait_pod_wired(page, lab, "tok", "node1", 5_000)
    finally:
        if lab.runtime.get("tok"):
            lab.runtime.delete("tok")


def test_a_tab_without_the_token_is_told_and_shown_nothing(
    lab: RunningLab, serve: Callable[..., str], browser: Any
) -> None:
    lab.runtime.add("secret", "node1")
    context = browser.new_context()  # a tab that never had the token
    try:
        page = context.new_page()
        failed: list[int] = []
        page.on("response", lambda r: failed.append(r.status) if "/api/" in r.url else None)
        page.goto(serve())
        page.wait_for_selector("[data-testid=token-needed]", state="visible", timeout=5_000)
        page.wait_for_timeout(500)
        assert failed and set(failed) == {403}
        assert lab.plan.pod_netns("secret") not in page.content()
    finally:
        context.close()
        lab.runtime.delete("secret")


def test_screenshot_of_a_busy_lab(lab: RunningLab, serve: Callable[..., str], page: Any) -> None:
    for name, node in (("web", "node1"), ("api", "node1"), ("db", "node2")):
        lab.runtime.add(name, node)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(serve())
    wait_for_graph(page)
    wait_pod_wired(page, lab, "db", "node2", 5_000)
    wait_pod_wired(page, lab, "api", "node1", 5_000)
    page.evaluate("(id) => window.cnilab.graph.select(id)", ns_of(lab, "web"))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "lab-1920x1080.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")

    page.click("[data-testid=presentation-toggle]")
    assert page.locator(".side").is_hidden()
    page.wait_for_timeout(300)
    presented = ARTIFACTS / "lab-presentation.png"
    page.screenshot(path=str(presented))
    print(f"screenshot: {presented}")

    with page.expect_download() as download:
        page.click("[data-testid=export-png]")
    png = ARTIFACTS / "lab-export.png"
    download.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"exported: {png}")

"""The whole step in the page, in a real Chromium against a real lab: the editor, the
terminals (the terminal server beside the app, as `cnilab serve` runs it) and the
streamed Check. A student does step 6 without leaving the page; a change on disk is
reported, not overwritten; closing a terminal tab ends its shell and all it started;
a read-only or token-less page has neither a terminal nor saving."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from waitress.server import create_server

from app import create_app
from lab.exercises.catalog import get_exercise
from lab.terminal.server import TerminalConfig, TerminalServer
from lab.terminal.shell import session_processes
from tests.browser.conftest import ARTIFACTS, TOKEN, _free_port, wait_for_graph
from tests.conftest import RunningLab

pytestmark = [pytest.mark.root, pytest.mark.browser]

ADD = get_exercise("add")
CHECK_TIMEOUT = 90_000


@pytest.fixture(scope="module")
def course(lab: RunningLab, workspace: Path) -> Iterator[tuple[str, TerminalServer]]:
    """The app and its terminal server, as `cnilab serve` starts them."""
    port = _free_port()
    terminals = TerminalServer(
        TerminalConfig("127.0.0.1", port, lab.plan.state_dir, workspace, TOKEN, max_terminals=3)
    )
    terminals.start()
    app = create_app(
        {
            "STATE_DIR": lab.plan.state_dir,
            "TOPOLOGY_SOURCE": "inspector",
            "TOKEN": TOKEN,
            "PORT": port,
            "TERMINAL": {"port": terminals.port, "max": 3},
        }
    )
    server = create_server(app, host="127.0.0.1", port=port, threads=24)
    thread = threading.Thread(target=server.run, name="course-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", terminals
    finally:
        terminals.stop()
        app.extensions["cnilab"].hub.stop()
        server.close()
        thread.join(timeout=5)


@pytest.fixture
def started(workspace: Path) -> Path:
    """The student's step-6 file as "Start this step" leaves it: the starter."""
    mine = workspace / "06-add" / "plugin.py"
    mine.parent.mkdir(exist_ok=True)
    mine.write_text(ADD.starter.read_text())
    return mine


def editor_text(page: Any) -> str:
    return page.evaluate("() => window.cnilab.course.editor.text")


def set_editor_text(page: Any, text: str) -> None:
    """What typing the missing code comes to: the editor's document replaced."""
    page.evaluate(
        """(text) => {
          const view = window.cnilab.course.editor.view;
          view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
        }""",
        text,
    )


def open_terminal(page: Any, target: str = "node:node1") -> Any:
    page.select_option("[data-testid=terminal-target]", target)
    page.click("[data-testid=terminal-new]")
    pane = page.locator(f"[data-testid=terminal][data-target='{target}'][data-ready=true]").last
    pane.wait_for(timeout=10_000)
    return pane


def screen(page: Any) -> str:
    """What the active terminal shows (xterm's buffer, every line)."""
    return page.evaluate(
        """() => {
          const term = window.cnilab.terminals.active.term;
          const b = term.buffer.active;
          const lines = [];
          for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
          return lines.join('\\n');
        }"""
    )


COUNT = """(until) => {
  const b = window.cnilab.terminals.active.term.buffer.active;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    n += b.getLine(i).translateToString(true).split(until).length - 1;
  }
  return n;
}"""


def type_command(page: Any, command: str, until: str, timeout: float = 30_000) -> str:
    """Type `command` into the active terminal; the screen once `until` shows once more."""
    seen = page.evaluate(COUNT, until)
    page.locator(".term-pane:not([hidden]) .xterm-helper-textarea").focus()
    page.keyboard.type(command)
    page.keyboard.press("Enter")
    return wait_screen(page, until, timeout, seen)


def wait_screen(page: Any, until: str, timeout: float = 30_000, seen: int = 0) -> str:
    page.wait_for_function(
        f"([until, seen]) => ({COUNT})(until) > seen", arg=[until, seen], timeout=timeout
    )
    return screen(page)


def test_step_6_wholly_in_the_page(
    course: tuple[str, TerminalServer], page: Any, lab: RunningLab, workspace: Path
) -> None:
    base, _ = course
    page.goto(f"{base}/exercises/6?token={TOKEN}")
    wait_for_graph(page)
    page.click("[data-testid=start-button]")
    page.locator("[data-testid=editor] .cm-content").wait_for(timeout=10_000)
    assert editor_text(page) == ADD.starter.read_text()  # the starter, in the editor
    assert page.locator("[data-testid=editor] .cm-lineNumbers").count() == 1
    assert page.locator("[data-testid=editor-status]").inner_text() == "saved"
    builds_on = page.locator("[data-testid=sources]").inner_text()
    assert "from the reference: 1 tour" in builds_on and "5 bridge" in builds_on

    # the terminal: a shell on node1, in the step's folder, cnilab on PATH
    open_terminal(page)
    out = type_command(page, "pwd; cnilab status | head -3; echo DO''NE", "DONE")
    assert str(workspace / "06-add") in out and "node1" in out
    out = type_command(page, "cnilab pod add try --plugin plugin.py; echo R''C=$?", "RC=")
    assert "RC=" in out.rsplit("pod add try", 1)[1]  # what the starter does, for the student
    type_command(page, "cnilab pod del try; echo R''C=$?", "RC=")

    # the missing code, typed in; Check saves it first, then streams each assertion
    set_editor_text(page, ADD.solution.read_text())
    assert "modified" in page.locator("[data-testid=editor-status]").inner_text()
    page.click("[data-testid=check-button]")
    page.locator("[data-testid=check-live] [data-testid=assertion]").first.wait_for(timeout=30_000)
    report = page.locator("[data-testid=check-report][data-which=workspace]")
    report.wait_for(timeout=CHECK_TIMEOUT)
    assert report.get_attribute("data-passed") == "true"
    assert (workspace / "06-add" / "plugin.py").read_text() == ADD.solution.read_text()
    page.locator("[data-testid=step][data-number='6'].passed").wait_for(timeout=5_000)
    assert page.locator("[data-testid=progress-bar]").evaluate("p => p.value") >= 1
    assert page.locator("[data-testid=editor-status]").inner_text() == "saved"

    # the same command now works, and the Run buttons of "What to run" type into the shell
    out = type_command(page, "cnilab pod add mine --plugin plugin.py; echo R''C=$?", "RC=")
    assert "RC=0" in out.rsplit("pod add mine", 1)[1]
    page.locator("[data-testid=run-line]", has_text="cnilab exec mine -- ip addr").locator(
        "[data-testid=run-button]"
    ).click()
    out = wait_screen(page, "inet 10.244.")
    assert "eth0" in out
    eth0 = f"if:{lab.plan.pod_netns('mine')}:eth0"
    page.wait_for_function(
        "(id) => !window.cnilab.cy.getElementById(id).empty()", arg=eth0, timeout=10_000
    )

    # the diff against the version that passed: the same text, then one line more
    page.click("[data-testid=diff-passed]")  # fetched: wait for its text, not the click
    same = "same as the version that last passed"
    page.locator("[data-testid=diff]", has_text=same).wait_for(timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "course-step6-passed.png"))
    out = type_command(page, "cnilab pod del mine; echo R''C=$?", "RC=", 30_000)
    assert "RC=0" in out.rsplit("pod del mine", 1)[1]


def test_a_failing_check_offers_its_hint_and_lights_the_graph(
    course: tuple[str, TerminalServer], page: Any, workspace: Path, started: Path
) -> None:
    base, _ = course
    page.goto(f"{base}/exercises/6")
    wait_for_graph(page)
    page.locator("[data-testid=editor] .cm-content").wait_for(timeout=10_000)
    set_editor_text(page, ADD.starter.read_text())
    page.click("[data-testid=check-button]")
    report = page.locator("[data-testid=check-report][data-which=workspace]")
    report.wait_for(timeout=CHECK_TIMEOUT)
    assert report.get_attribute("data-passed") == "false"
    assert (workspace / "06-add" / "plugin.py").read_text() == ADD.starter.read_text()
    button = page.locator("[data-testid=report-hint-button]")
    assert button.is_visible()
    button.click()
    page.locator("[data-testid=report-hint]:not([hidden])").wait_for(timeout=5_000)
    assert page.locator("[data-testid=report-hint] .hint-body").inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "course-step6-failed.png"))


def test_a_change_on_disk_is_reported_not_overwritten(
    course: tuple[str, TerminalServer], page: Any, started: Path
) -> None:
    base, _ = course
    mine = started
    page.goto(f"{base}/exercises/6")
    page.locator("[data-testid=editor] .cm-content").wait_for(timeout=10_000)
    set_editor_text(page, "# typed in the page\n")
    mine.write_text("# saved from vim\n")  # the student's own editor, meanwhile
    page.click("[data-testid=editor-save]")
    page.locator("[data-testid=conflict]").wait_for(timeout=5_000)
    assert mine.read_text() == "# saved from vim\n"
    assert page.locator("[data-testid=editor-status]").get_attribute("data-state") == "conflict"
    page.click("[data-testid=check-button]")  # Check saves first: refused the same way
    page.locator("[data-testid=course-error]").wait_for(timeout=5_000)
    assert mine.read_text() == "# saved from vim\n"
    page.click("[data-testid=conflict-load]")
    assert editor_text(page) == "# saved from vim\n"
    assert page.locator("[data-testid=conflict]").count() == 0
    set_editor_text(page, "# now saved from the page\n")
    page.click("[data-testid=editor] .cm-content")
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !window.cnilab.course.editor.dirty", timeout=5_000)
    assert mine.read_text() == "# now saved from the page\n"


def sleepers() -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            if cmd[:1] == [b"sleep"] and cmd[1:2] == [b"7401"] and stat[stat.rfind(")") + 2] != "Z":
                found.append(entry.name)
    return found


def test_closing_a_terminal_tab_ends_its_shell(
    course: tuple[str, TerminalServer], page: Any, lab: RunningLab
) -> None:
    base, terminals = course
    page.goto(f"{base}/exercises/6")
    wait_for_graph(page)
    page.locator("[data-testid=terminal-new]").wait_for(timeout=10_000)
    pane = open_terminal(page, "underlay")
    open_terminal(page, "node:node2")
    assert page.locator("[data-testid=terminal-tab]").count() == 2
    page.locator("[data-testid=terminal-tab]").first.locator("button").first.click()
    pid = int(pane.get_attribute("data-pid"))
    marker = marker_of(pid)
    type_command(page, "sleep 7401 & setsid sleep 7401 & echo STA''RTED", "STARTED")
    deadline = time.monotonic() + 10  # setsid forks, then its child becomes the sleep
    while len(sleepers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sleepers()) == 2
    page.locator(
        "[data-testid=terminal-tab][data-target=underlay] [data-testid=terminal-close]"
    ).click()
    assert page.locator("[data-testid=terminal-tab]").count() == 1
    deadline = time.monotonic() + 10
    while (session_processes(pid, marker) or sleepers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_processes(pid, marker) == set() and sleepers() == []
    assert len(terminals.shells) == 1  # node2's is still open


def marker_of(pid: int) -> str:
    from lab.terminal.shell import MARKER

    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(e.split(b"=", 1)[1].decode() for e in env if e.startswith(f"{MARKER}=".encode()))


def test_read_only_or_token_less_has_no_terminal_and_no_saving(
    course: tuple[str, TerminalServer], serve: Callable[..., str], browser: Any
) -> None:
    base, _ = course
    stranger = browser.new_context()  # no token in this tab
    try:
        page = stranger.new_page()
        page.goto(f"{base}/exercises/6")
        page.locator("[data-testid=token-needed]").wait_for(timeout=5_000)
        page.locator("[data-testid=file] p").first.wait_for(timeout=5_000)
        assert page.locator("[data-testid=terminals]").is_hidden()
        assert page.locator("[data-testid=editor-tools]").is_hidden()
        assert page.locator("[data-testid=editor]").count() == 0
        assert page.locator("[data-testid=run-button]").count() == 0
        assert page.locator("[data-testid=terminal]").count() == 0
    finally:
        stranger.close()
    kept = browser.new_context()
    kept.add_init_script(f"sessionStorage.setItem('cnilab-token', {TOKEN!r});")
    try:
        page = kept.new_page()
        page.goto(f"{serve(READ_ONLY=True)}/exercises/6")
        page.locator("[data-testid=read-only-badge]").wait_for(timeout=5_000)
        page.locator("[data-testid=file] p").first.wait_for(timeout=5_000)
        for testid in ("terminals", "editor-tools", "editor-save", "terminal-new", "check-button"):
            assert page.locator(f"[data-testid={testid}]").count() == 0, testid
        assert page.locator("[data-testid=editor]").count() == 0
    finally:
        kept.close()

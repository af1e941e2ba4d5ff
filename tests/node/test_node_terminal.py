"""Terminals on the Vagrant lab, with namespaces standing in for the two VMs: node1's
terminal server (the app's) opens shells in node1's own namespace and its pods, and
relays a terminal on node2 to node2's agent, a real `cnilab agent --allow-terminal`
process (TLS, pinned certificate, signed upgrade). The page never talks to the agent.
Whatever ends a relayed terminal (the tab, a dropped connection, either server
stopping) ends node2's shell and everything it started; the cap counts relayed ones."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from lab.agent.client import AgentRef, tls_context
from lab.agent.scope import NodeScope
from lab.agent.signing import sign
from lab.agent.terminal_client import AgentTerminals
from lab.exercises.catalog import get_exercise
from lab.terminal.server import RealNodes, TerminalConfig, TerminalServer
from tests.agent.conftest import AgentProcess, start_agent_process, wait_until
from tests.conftest import Namespaces
from tests.terminal.test_server import ESCAPES, left_behind, marker_of, ready, run, sleepers

pytestmark = pytest.mark.root

TOKEN = "page-token"
AGENT_TOKEN = "agents-token"
APP_PORT = 8765


@dataclass
class TwoVMs:
    folder: Path
    node1: str  # the namespace standing in for node1's own
    node2: str
    web: str  # a pod on node1
    db: str  # a pod on node2
    agent: AgentProcess  # node2's
    workspace: Path

    @property
    def ref(self) -> AgentRef:
        return AgentRef("node2", self.agent.url, AGENT_TOKEN, self.agent.fingerprint)

    def nodes(self, ref: AgentRef | None = None) -> RealNodes:
        local = NodeScope("node1", self.node1, pods_prefix=self.web.rsplit("-", 1)[0] + "-")
        return RealNodes(local, {"node2": AgentTerminals(ref or self.ref)}, {"CNILAB_X": "1"})

    def server(self, ref: AgentRef | None = None, max_terminals: int = 8) -> TerminalServer:
        config = TerminalConfig(
            "127.0.0.1", APP_PORT, str(self.folder / "no-lab"), self.workspace, TOKEN,
            max_terminals=max_terminals, nodes=self.nodes(ref),
        )  # fmt: skip
        server = TerminalServer(config)
        server.start()
        return server


def node2_agent(vms_folder: Path, netns: str, pods_prefix: str, *extra: str) -> AgentProcess:
    token_file = vms_folder / "agent.token"
    token_file.write_text(AGENT_TOKEN + "\n")
    args = ["--node", "node2", "--netns", netns, "--pods-prefix", pods_prefix]
    return start_agent_process(
        [*args, "--token-file", str(token_file), *extra], vms_folder, f"node2-{len(extra)}"
    )


@pytest.fixture(scope="module")
def vms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoVMs]:
    folder = tmp_path_factory.mktemp("vms")
    spaces = Namespaces()
    try:
        node1, node2 = spaces.new("node1"), spaces.new("node2")
        web, db = spaces.new("p1"), spaces.new("p2")
        workspace = folder / "workspace"
        (workspace / get_exercise("add").folder.name).mkdir(parents=True)
        agent = node2_agent(folder, node2, db.rsplit("-", 1)[0] + "-", "--allow-terminal")
        try:
            yield TwoVMs(folder, node1, node2, web, db, agent, workspace)
        finally:
            agent.stop()
    finally:
        spaces.cleanup()


@pytest.fixture(scope="module")
def relay(vms: TwoVMs) -> Iterator[TerminalServer]:
    server = vms.server(max_terminals=3)
    try:
        yield server
    finally:
        server.stop()


def page(server: TerminalServer, target: str, **query: str) -> ClientConnection:
    query = {"token": TOKEN, "target": target, "step": "add", **query}
    text = "&".join(f"{k}={v}" for k, v in query.items())
    uri = f"ws://127.0.0.1:{server.port}/terminal?{text}"
    return connect(uri, origin=f"http://127.0.0.1:{APP_PORT}", open_timeout=15)  # type: ignore[arg-type]


def closed_reason(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as e:
        while True:
            ws.recv(timeout=15)
    assert e.value.rcvd is not None, "closed without a word"
    return e.value.rcvd.code, e.value.rcvd.reason


def inode(netns: str) -> int:
    return os.stat(f"/run/netns/{netns}").st_ino


def all_gone(pid: int, marker: str, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while (left_behind(pid, marker) or sleepers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left_behind(pid, marker) == [] and sleepers() == []


def test_shells_on_both_nodes_and_their_pods(vms: TwoVMs, relay: TerminalServer) -> None:
    cases = [
        ("node:node1", vms.node1, str(vms.workspace / "06-add")),
        (f"pod:node1/{vms.web}", vms.web, str(vms.workspace / "06-add")),
        ("node:node2", vms.node2, "/root"),  # node2 has no workspace: its home
        (f"pod:node2/{vms.db}", vms.db, "/root"),
    ]
    for target, netns, cwd in cases:
        with page(relay, target, cols="91", rows="33") as ws:
            hello = ready(ws)
            assert (
                hello["id"] == target and hello["node"] == target.partition(":")[2].split("/")[0]
            ), hello
            assert hello["cwd"] == cwd
            out = run(ws, "stat -L -c 'ino=%i' /proc/self/ns/net; stty size; echo E''ND", "END")
            assert f"ino={inode(netns)}" in out and "33 91" in out, (target, out)
            ws.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
            assert "40 120" in run(ws, "stty size; echo E''ND", "END"), target
    with page(relay, "node:node1") as ws:  # `cnilab` there finds the check lab (checkplace)
        ready(ws)
        assert "X=1" in run(ws, "echo X=$CNILAB_X; env | grep -c TOKEN; echo E''ND", "END")


def test_targets_that_are_not_there(vms: TwoVMs, relay: TerminalServer) -> None:
    for target, reason in [
        ("node:node9", "unknown node"),
        ("underlay", "node:NODE"),
        ("pod:node1/..", "no pod namespace"),
        (f"pod:node1/{vms.node1}", "no pod namespace"),  # the node's own is no pod
        (f"pod:node2/{vms.web}", "node2: there is no pod namespace"),  # node1's, asked of node2
        ("pod:node2/nosuch", "node2: there is no pod namespace"),
    ]:
        with page(relay, target) as ws:
            code, why = closed_reason(ws)
        assert code == 1008 and reason in why, (target, why)
    assert wait_until(lambda: not relay.shells)  # the link to node2 closes just after


def test_closing_the_tab_ends_node2s_shell_and_all_it_started(relay: TerminalServer) -> None:
    with page(relay, "node:node2") as ws:
        pid = ready(ws)["pid"]  # node2's shell: here a process of the agent's worker
        marker = marker_of(pid)
        run(ws, ESCAPES, "END")
        assert sleepers() == ["7001", "7002", "7003", "7004"]
    assert all_gone(pid, marker)
    assert wait_until(lambda: not relay.shells)


def test_a_dropped_connection_ends_it_too(relay: TerminalServer) -> None:
    with page(relay, "node:node2") as ws:
        pid = ready(ws)["pid"]
        marker = marker_of(pid)
        run(ws, ESCAPES, "END")
        ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        ws.socket.close()  # a reset, no close frame: the browser's machine went away
        assert all_gone(pid, marker)


def test_the_cap_counts_relayed_terminals(relay: TerminalServer) -> None:
    with contextlib.ExitStack() as stack:
        for target in ("node:node2", "node:node2", "node:node1"):
            ready(stack.enter_context(page(relay, target)))
        with pytest.raises(InvalidStatus) as e:
            page(relay, "node:node2")
        assert e.value.response.status_code == 503


def test_the_relay_stopping_ends_node2s_shell(vms: TwoVMs) -> None:
    server = vms.server()
    try:
        with page(server, "node:node2") as ws:
            pid = ready(ws)["pid"]
            marker = marker_of(pid)
            run(ws, ESCAPES, "END")
            server.stop()
            assert all_gone(pid, marker)
    finally:
        server.stop()


def test_the_agent_stopping_ends_its_shells_and_says_so(vms: TwoVMs) -> None:
    agent = node2_agent(vms.folder, vms.node2, "none-", "--allow-terminal", "--verbose")
    ref = AgentRef("node2", agent.url, AGENT_TOKEN, agent.fingerprint)
    server = vms.server(ref)
    try:
        with page(server, "node:node2") as ws:
            pid = ready(ws)["pid"]
            marker = marker_of(pid)
            run(ws, ESCAPES, "END")
            agent.stop()  # SIGTERM, as systemd stops it
            code, why = closed_reason(ws)
        assert code == 1011 and why.startswith("node2: ") and "stopping" in why, why
        assert all_gone(pid, marker)
    finally:
        agent.stop()
        server.stop()


def test_an_agent_without_allow_terminal_or_with_another_certificate(vms: TwoVMs) -> None:
    off = node2_agent(vms.folder, vms.node2, "none-")
    try:
        ref = AgentRef("node2", off.url, AGENT_TOKEN, off.fingerprint)
        for agent_ref, reason in [
            (ref, "terminals are off on node2's agent"),
            (replace(ref, fingerprint="ab" * 32), "refused before sending anything"),
            (replace(ref, token="another token"), "refused the terminal (HTTP 403)"),
        ]:
            server = vms.server(agent_ref)
            try:
                with page(server, "node:node2") as ws:
                    code, why = closed_reason(ws)
                assert code == 1008 and reason in why, why
            finally:
                server.stop()
    finally:
        off.stop()


def agent_upgrade(vms: TwoVMs, headers: dict[str, str], origin: str | None = None) -> int:
    """The agent's answer to a WebSocket upgrade made by hand (101: a shell opened)."""
    target = "/v1/terminal?target=node%3Anode2"
    host = vms.agent.url.removeprefix("https://")
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket"]
    lines += ["Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
              "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    if origin:
        lines.append(f"Origin: {origin}")
    port = int(host.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with tls_context().wrap_socket(raw) as tls:
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return int(tls.recv(200).split()[1])


def test_the_agent_opens_only_for_a_signed_upgrade_without_origin(vms: TwoVMs) -> None:
    target = "/v1/terminal?target=node%3Anode2"
    signed = sign(AGENT_TOKEN, "node2", "GET", target, b"")
    assert agent_upgrade(vms, {}) == 403  # unsigned
    assert agent_upgrade(vms, sign(AGENT_TOKEN, "node1", "GET", target, b"")) == 403  # node1's
    assert agent_upgrade(vms, sign("wrong", "node2", "GET", target, b"")) == 403
    assert agent_upgrade(vms, signed, origin=f"http://127.0.0.1:{APP_PORT}") == 403  # a page's
    assert agent_upgrade(vms, {**signed, "X-Cnilab-Nonce": "x" * 24}) == 403  # not what was signed
    assert agent_upgrade(vms, signed) == 101
    assert agent_upgrade(vms, signed) == 403  # the same request again: a replay


def test_the_page_lists_both_nodes_and_their_pods(vms: TwoVMs, tmp_path: Path) -> None:
    from tests.app.conftest import make_app

    local = vms.nodes().local
    app = make_app(
        tmp_path / "no-lab", AGENTS=[vms.ref], TERMINAL={"port": 1, "max": 3, "local": local}
    )
    listed = app.test_client().get("/api/terminal").get_json()["targets"]
    assert [t["id"] for t in listed] == [
        "node:node1", f"pod:node1/{vms.web}", "node:node2", f"pod:node2/{vms.db}",
    ]  # fmt: skip
    assert {t["node"] for t in listed} == {"node1", "node2"}
    stopped = replace(vms.ref, url="https://127.0.0.1:9")  # no agent there: node2 alone
    app = make_app(tmp_path / "x", AGENTS=[stopped], TERMINAL={"port": 1, "max": 3, "local": local})
    assert [t["id"] for t in app.test_client().get("/api/terminal").get_json()["targets"]][2:] == [
        "node:node2"
    ]


def test_which_nodes_are_relayed(vms: TwoVMs) -> None:
    """`cnilab serve --agents` on node1: its own shells open here, node2's are relayed."""
    from lab.agent.terminal_client import real_nodes

    node1 = replace(vms.ref, name="node1")
    nodes = real_nodes([node1, vms.ref], "node1", {"CNILAB_PREFIX": "cnicheck"})
    assert nodes.local is not None and nodes.local.node == "node1"
    assert nodes.local.netns is None and nodes.local.pods_prefix == "cnilab-"  # the VM's own
    assert list(nodes.remote) == ["node2"] and nodes.env == {"CNILAB_PREFIX": "cnicheck"}
    elsewhere = real_nodes([node1, vms.ref], "laptop", {})  # not a node: all relayed
    assert elsewhere.local is None and sorted(elsewhere.remote) == ["node1", "node2"]


def test_an_agent_never_serves_terminals_without_a_token(tmp_path: Path) -> None:
    from tests.node.conftest import cnilab

    refused = cnilab("agent", "--no-token", "--allow-terminal", "--cert-dir", str(tmp_path),
                     check=False)  # fmt: skip
    assert refused.returncode != 0 and "--allow-terminal needs a token" in refused.stderr

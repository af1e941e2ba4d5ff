"""Two node namespaces of a real lab stand in for two hosts, each served by its own agent.

node1's agent is a real `cnilab agent` process (gunicorn, TLS, signed requests); node2's
runs in a thread of the test, so tests can look inside it: the same AgentApp and
certificate code, on werkzeug's threaded server with TLS. Pods are named so that a prefix tells
the nodes apart: n1-a and n1-b on node1, n2-c on node2 (namespaces <prefix>-n1-a ...),
shown as pods a, b and c. One lab and one pair of agents serve the whole module.
"""

from __future__ import annotations

import os
import re
import select
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from lab.agent.cert import AgentCert, ensure_cert
from lab.agent.client import AgentClient, AgentRef
from lab.agent.scope import NodeScope
from lab.agent.server import AgentApp
from lab.agent.service import Agent
from lab.cluster import build
from lab.runtime.pods import Runtime
from tests.conftest import RunningLab, new_plan

CNILAB = str(Path(sys.executable).parent / "cnilab")
TOKENS = {"node1": "token-of-node1", "node2": "token-of-node2"}
LISTENING = re.compile(r"on https://127\.0\.0\.1:(\d+)/")
FINGERPRINT = re.compile(r"certificate sha256 ([0-9a-f]{64})$")


@dataclass
class AgentProcess:
    """`cnilab agent` as the systemd unit would run it (here for a namespace)."""

    proc: subprocess.Popen[str]
    url: str
    fingerprint: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def worker_pid(self) -> int:
        """gunicorn's worker: where the agent's threads and sockets are."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_agent_process(
    args: list[str], folder: Path, name: str = "agent", timeout: float = 30
) -> AgentProcess:
    """Start `cnilab agent ARGS --port 0` (its certificate in FOLDER/NAME-cert, its log
    FOLDER/NAME.log) and wait for the lines that say its fingerprint and its port."""
    log = folder / f"{name}.log"
    err = log.open("w")
    proc = subprocess.Popen(
        [CNILAB, "agent", "--port", "0", "--cert-dir", str(folder / f"{name}-cert"), *args],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    err.close()
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while not (lines and LISTENING.search(lines[-1])):
        ready, _, _ = select.select([proc.stdout], [], [], max(0, deadline - time.monotonic()))
        line = proc.stdout.readline() if ready else ""
        if not line:
            proc.kill()
            proc.wait(5)
            raise AssertionError(f"the agent did not start: {lines!r} {log.read_text()}")
        lines.append(line.strip())
    pinned = next(m[1] for ln in lines if (m := FINGERPRINT.search(ln)))
    port = LISTENING.search(lines[-1])[1]  # type: ignore[index]
    return AgentProcess(proc, f"https://127.0.0.1:{port}", pinned, log)


@dataclass
class AgentThread:
    agent: Agent
    server: BaseWSGIServer
    thread: threading.Thread
    cert: AgentCert

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_port}"

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()
        self.agent.close()


def start_agent_thread(scope: NodeScope, token: str, cert_dir: Path) -> AgentThread:
    cert = ensure_cert(cert_dir, scope.node)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert.cert, cert.key)
    agent = Agent(scope).start()
    server = make_server("127.0.0.1", 0, AgentApp(agent, token), threaded=True, ssl_context=tls)
    thread = threading.Thread(target=server.serve_forever, name="test-agent", daemon=True)
    thread.start()
    return AgentThread(agent, server, thread, cert)


@dataclass
class TwoHosts:
    lab: RunningLab
    node1: AgentProcess
    node2: AgentThread

    @property
    def refs(self) -> list[AgentRef]:
        return [
            AgentRef("node1", self.node1.url, TOKENS["node1"], self.node1.fingerprint),
            AgentRef("node2", self.node2.url, TOKENS["node2"], self.node2.fingerprint),
        ]

    def client(self, node: str) -> AgentClient:
        return AgentClient(next(r for r in self.refs if r.name == node))

    def netns(self, pod: str) -> str:
        return self.lab.plan.pod_netns(pod)

    def host_veth(self, pod: str) -> str:
        found = self.lab.runtime.get(pod)
        assert found is not None
        return found.attachments[0].result["interfaces"][1]["name"]


def wait_until(check: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(check())  # type: ignore[operator]


def process_counts(pid: int) -> tuple[int, int]:
    """A process's open fds and threads."""
    return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def settled_counts(pid: int, timeout: float = 10) -> tuple[int, int]:
    """fds and threads once the same three readings in a row show that no request
    thread is still finishing (one answers, then takes a moment to close and end)."""
    readings = [process_counts(pid)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (len(readings) < 3 or len(set(readings[-3:])) > 1):
        time.sleep(0.05)
        readings.append(process_counts(pid))
    return readings[-1]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    folder = tmp_path_factory.mktemp("agents")
    plan = build.up(new_plan(folder))
    stack: list[AgentProcess | AgentThread] = []
    try:
        lab = RunningLab(plan, Runtime(plan))
        lab.runtime.add("n1-a", "node1")
        lab.runtime.add("n1-b", "node1")
        lab.runtime.add("n2-c", "node2")
        token_file = folder / "node1.token"
        token_file.write_text(TOKENS["node1"] + "\n")
        node1 = start_agent_process(
            [
                *("--node", "node1", "--netns", plan.node("node1").netns),
                *("--pods-prefix", f"{plan.prefix}-n1-", "--token-file", str(token_file)),
            ],
            folder,
            "node1",
        )
        stack.append(node1)
        scope2 = NodeScope("node2", plan.node("node2").netns, pods_prefix=f"{plan.prefix}-n2-")
        node2 = start_agent_thread(scope2, TOKENS["node2"], folder / "node2-cert")
        stack.append(node2)
        yield TwoHosts(lab, node1, node2)
    finally:
        for running in reversed(stack):
            running.stop()
        build.down(plan)

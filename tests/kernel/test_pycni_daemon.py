"""`pycni daemon` started by pycni itself: one per node, detached, idle exit, off switches.

Every node here is a fresh namespace where nobody started a daemon, as on a host where
a runtime (podman, a kind node) runs pycni and nothing else of cnilab.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab.pycni.daemon_control import DAEMON_NAME, WORKER_NAME, daemons_in, processes_in
from tests.kernel.conftest import Call, Node

WAIT = 30.0  # seconds a daemon gets to start or leave on a loaded machine; never a timing


def wait_for(what: str, done: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def pids_in(node: Node) -> set[int]:
    """Every process whose network namespace is the node's, whatever its name."""
    target = os.stat(node.path)
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ns = os.stat(f"/proc/{entry}/ns/net")
            except OSError:
                continue
            if (ns.st_ino, ns.st_dev) == (target.st_ino, target.st_dev):
                found.add(int(entry))
    return found


def listening(node: Node) -> bool:
    return "cnilab/pycni-daemon" in node.sh("ss", "-xlH")


def workers(node: Node) -> set[int]:
    return set(processes_in(node.path, (WORKER_NAME,)))


def ready(node: Node) -> int:
    """The node's one daemon, once it listens and has a warm worker."""
    wait_for("a listening daemon with workers", lambda: listening(node) and bool(workers(node)))
    daemons = daemons_in(node.path)
    assert len(daemons) == 1, daemons
    return daemons[0]


def done_by(node: Node, cid: str, command: str = "ADD") -> int:
    """The pid that logged `command` done for `cid` (pycni logs `pid=N ADD <cid>: ADD done`)."""
    found = re.findall(
        rf"pid=(\d+) {command} {cid[:12]}: {command} done", node.log_file.read_text()
    )
    assert len(found) == 1, node.log_file.read_text()[-2000:]
    return int(found[0])


def add(node: Node, cid: str, **over: Any) -> Call:
    call = node.run("ADD", node.conf(**over), cid, node.namespaces.new("pod"))
    assert call.exit == 0, call.stdout + call.stderr
    return call


@pytest.fixture
def bare_node(node: Node) -> Node:
    """The node with the daemon allowed (the conftest's default turns it off)."""
    node.extra_env = {}
    assert not pids_in(node)
    return node


def test_first_call_works_itself_and_starts_the_daemon_that_serves_the_next(
    bare_node: Node,
) -> None:
    first = add(bare_node, "first")
    assert done_by(bare_node, "first") == first.pid  # its own work, in its own process
    daemon = ready(bare_node)
    assert daemon != first.pid and first.pid not in pids_in(bare_node)

    second = add(bare_node, "second")
    assert done_by(bare_node, "second") in workers(bare_node)  # a warm worker of that daemon
    assert json.loads(second.stdout)["ips"][0]["address"] == "10.244.0.3/24"
    assert daemons_in(bare_node.path) == [daemon]  # served, not started again
    gone = bare_node.run("DEL", bare_node.conf(), "second", "")
    assert gone.exit == 0, gone.stdout
    assert done_by(bare_node, "second", "DEL") in workers(bare_node)
    assert bare_node.reservations() == {"10.244.0.2": "first/eth0"}


def test_two_first_calls_at_once_start_one_daemon(bare_node: Node) -> None:
    started = [
        bare_node.start(
            bare_node.cni_env("ADD", cid, bare_node.namespaces.new("pod")),
            json.dumps(bare_node.conf()).encode(),
        )
        for cid in ("one", "two", "three")
    ]
    calls = [bare_node.finish(s) for s in started]
    assert [c.exit for c in calls] == [0, 0, 0], [c.stdout for c in calls]
    addresses = {json.loads(c.stdout)["ips"][0]["address"] for c in calls}
    assert len(addresses) == 3
    daemon = ready(bare_node)

    def only_the_daemon_and_its_workers() -> bool:
        return pids_in(bare_node) == {daemon} | workers(bare_node)

    wait_for("the daemons that lost the bind to leave", only_the_daemon_and_its_workers)
    assert all(_parent(pid) == daemon for pid in workers(bare_node))


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_idle_daemon_leaves_and_the_next_call_starts_another(bare_node: Node) -> None:
    # Watched while the first call still works: with a short idle exit, the daemon may
    # well leave before that call (in-process, pyroute2 to import) has returned.
    started = bare_node.start(
        bare_node.cni_env("ADD", "early", bare_node.namespaces.new("pod")),
        json.dumps(bare_node.conf(daemonIdleExit=1)).encode(),
    )
    first = ready(bare_node)
    assert bare_node.finish(started).exit == 0
    wait_for("the idle daemon to leave", lambda: not pids_in(bare_node))
    assert not listening(bare_node)

    late = add(bare_node, "late")
    assert done_by(bare_node, "late") == late.pid  # nobody listened: worked itself
    assert ready(bare_node) != first


def test_daemon_holds_none_of_the_callers_descriptors(bare_node: Node) -> None:
    leaked_r, leaked_w = os.pipe()  # a runtime that leaks an fd into its plugins
    os.set_inheritable(leaked_w, True)
    try:
        started = bare_node.start(
            bare_node.cni_env("ADD", "fds", bare_node.namespaces.new("pod")),
            json.dumps(bare_node.conf()).encode(),
            pass_fds=(leaked_w,),
        )
        theirs = started.pipes | {f"pipe:[{os.fstat(leaked_w).st_ino}]"}
        call = bare_node.finish(started)  # returns only once stdout and stderr closed
        assert call.exit == 0, call.stdout
        daemon = ready(bare_node)
    finally:
        os.close(leaked_r)
        os.close(leaked_w)
    for pid in [daemon, *workers(bare_node)]:
        held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert not held & theirs, (pid, held)
    held = [os.readlink(f"/proc/{daemon}/fd/{fd}") for fd in (0, 1, 2)]
    assert held == ["/dev/null"] * 3
    assert os.getsid(daemon) == daemon  # its own session: no terminal, no runtime's group
    assert os.readlink(f"/proc/{daemon}/cwd") == "/"
    with open(f"/proc/{daemon}/environ", "rb") as f:
        assert not any(v.startswith(b"CNI_") for v in f.read().split(b"\0"))


@pytest.mark.parametrize(
    ("env", "over"),
    [
        ({"PYCNI_NO_DAEMON": "1"}, {}),
        ({}, {"startDaemon": False}),
    ],
    ids=["PYCNI_NO_DAEMON", "startDaemon-false"],
)
def test_off_switches_start_no_daemon(
    bare_node: Node, env: dict[str, str], over: dict[str, Any]
) -> None:
    bare_node.extra_env = env
    for cid in ("off1", "off2"):
        call = add(bare_node, cid, **over)
        assert done_by(bare_node, cid) == call.pid
        assert not pids_in(bare_node)  # a daemon would be there already: spawned before work


def test_no_daemon_for_version_or_a_config_with_a_bad_switch(bare_node: Node) -> None:
    version = bare_node.run("VERSION", {"cniVersion": "1.0.0"})
    assert version.exit == 0 and "supportedVersions" in version.stdout
    bad = bare_node.run(
        "ADD", bare_node.conf(startDaemon="no"), "bad", bare_node.namespaces.new("pod")
    )
    assert bad.exit == 1 and json.loads(bad.stdout)["code"] == 7
    assert "startDaemon" in json.loads(bad.stdout)["msg"]
    assert not pids_in(bare_node)


def test_daemon_named_for_ps_and_found_by_namespace_only(bare_node: Node) -> None:
    add(bare_node, "named")
    daemon = ready(bare_node)
    with open(f"/proc/{daemon}/comm") as f:
        assert f.read().strip() == DAEMON_NAME
    other = bare_node.namespaces.new("other")
    assert daemons_in(f"/run/netns/{other}") == []
    assert daemons_in("/run/netns/does-not-exist") == []


FAKE_DAEMON = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\\0cnilab/pycni-daemon")
s.listen(8)
print("ready", flush=True)
conn, _ = s.accept()
conn.recv(1 << 20)
conn.sendall(sys.argv[1].encode())
conn.close()
"""


@pytest.mark.parametrize(
    ("sent", "served_by_caller"),
    [("", True), ("+", False), ("+garbage", False)],
    ids=["closed-before-taking", "taken-then-cut", "taken-then-garbage"],
)
def test_a_call_the_daemon_never_took_is_done_by_the_caller_and_only_that(
    bare_node: Node, sent: str, served_by_caller: bool
) -> None:
    """No b"+": nothing was done, so the caller works itself. After it: error 11, never a
    second attempt that could half-repeat what the daemon did."""
    fake = subprocess.Popen(
        ["nsenter", f"--net={bare_node.path}", "--", sys.executable, "-c", FAKE_DAEMON, sent],
        stdout=subprocess.PIPE,
    )
    try:
        assert fake.stdout is not None and fake.stdout.readline() == b"ready\n"
        call = bare_node.run(
            "ADD", bare_node.conf(startDaemon=False), "fake", bare_node.namespaces.new("pod")
        )
        fake.wait(timeout=WAIT)
    finally:
        fake.kill()
        fake.wait()
    if served_by_caller:
        assert call.exit == 0, call.stdout
        assert done_by(bare_node, "fake") == call.pid
    else:
        assert call.exit == 1 and json.loads(call.stdout)["code"] == 11, call.stdout
        assert "pycni daemon" in json.loads(call.stdout)["msg"]
        assert bare_node.reservations() == {}


def test_a_call_held_in_slow_motion_does_not_hold_up_the_next(
    bare_node: Node, tmp_path: Path
) -> None:
    """One worker, held by a manual demo step: the daemon forks another for the next call."""
    bare_node.start_daemon("--workers", "1")
    ready(bare_node)
    (only,) = workers(bare_node)
    events = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    events.bind(str(tmp_path / "demo.sock"))
    events.listen(1)
    held_conf = bare_node.conf(
        runtimeConfig={"demo": {"events": str(tmp_path / "demo.sock"), "manual": True}}
    )
    held = bare_node.start(
        bare_node.cni_env("ADD", "held", bare_node.namespaces.new("pod")),
        json.dumps(held_conf).encode(),
    )
    with events:
        conn, _ = events.accept()
        with conn:
            assert json.loads(conn.recv(65536))["step"]  # its first step waits for "next"
            other = add(bare_node, "other")
            assert held.proc.poll() is None  # still held while the other call was served
            served = done_by(bare_node, "other")
            assert served not in (other.pid, only)  # by an extra worker, gone after its call
            wait_for("the extra worker to leave", lambda: workers(bare_node) == {only})
            conn.send(b"next")
            while conn.recv(65536):  # the held call's other steps, until it hangs up
                conn.send(b"next")
    done = bare_node.finish(held)
    assert done.exit == 0, done.stdout
    assert {json.loads(c.stdout)["ips"][0]["address"] for c in (done, other)} == {
        "10.244.0.2/24",
        "10.244.0.3/24",
    }


RAW_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\\0cnilab/pycni-daemon")
s.sendall(bytes.fromhex(sys.argv[1]))
s.shutdown(socket.SHUT_WR)
sys.stdout.buffer.write(b"".join(iter(lambda: s.recv(65536), b"")))
"""


@pytest.mark.parametrize("request_", ["GET / HTTP/1.1\r\n\r\n", "CNI1\nHOME=/root\0\0{}"])
def test_a_request_not_from_pycni_gets_error_6_and_the_daemon_goes_on(
    bare_node: Node, request_: str
) -> None:
    bare_node.start_daemon()
    ready(bare_node)
    client = [sys.executable, "-c", RAW_CLIENT, request_.encode().hex()]
    raw = subprocess.run(
        ["nsenter", f"--net={bare_node.path}", "--", *client],
        capture_output=True,
        timeout=WAIT,
        check=True,
    ).stdout
    code, length = raw[1:].split(b"\n", 1)[0].split()
    assert raw.startswith(b"+") and code == b"1"
    error = json.loads(raw.split(b"\n", 1)[1][: int(length)])
    assert error["code"] == 6 and error["msg"] == "pycni daemon: bad request"
    after = add(bare_node, "after")
    assert done_by(bare_node, "after") in workers(bare_node)
    assert json.loads(after.stdout)["ips"][0]["address"] == "10.244.0.2/24"

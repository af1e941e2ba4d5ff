"""One worker of `pycni daemon`: warm, serving the calls its master hands it, one at a time.

A worker is forked from the warm master, so pyroute2 and the plugin are imported
already; it serves call after call, because forking per call costs more CPU than
the call itself. A call could still leave the process changed (a thread, a file
descriptor, another network namespace): the worker checks after every call and
retires if so, as it does after `MAX_CALLS`; the master forks a fresh one.

The master sends each accepted connection over the worker's control socket
(SCM_RIGHTS); the worker answers b"d" (done, ready again) or b"r" (retiring).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import struct
import threading

from lab.pycni.daemon_protocol import TAKEN, WireError, decode_request, encode_answer

MAX_CALLS = 500
MAX_REQUEST = 1 << 20
REQUEST_TIMEOUT = 10.0  # seconds for a client to send its request; the call itself has none
READY, RETIRING = b"d", b"r"


def peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def warm_up() -> None:
    """Pay the first-use costs (and, after a fork, the copy of touched pages) now."""
    from lab.kernel import links
    from lab.kernel.rtnl import Rtnl
    from lab.pycni import plugin  # noqa: F401

    with Rtnl.open() as sock:
        links.link_by_index(sock, 1)


def run_call(environ: dict[str, str], stdin: bytes) -> bytes:
    """Run one call in this process and capture what the executable would print."""
    from lab.pycni import plugin

    out, err = io.StringIO(), io.StringIO()
    code = plugin.run(stdin, environ, stdout=out, stderr=err)
    return encode_answer(code, out.getvalue(), err.getvalue())


def read_request(conn: socket.socket) -> bytes:
    chunks, size = [], 0
    while chunk := conn.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REQUEST:
            raise WireError("request too large")
    return b"".join(chunks)


def refusal(why: str) -> bytes:
    """A request that is none of our thin client's: error 6, as the spec prints it."""
    import json

    from lab.cni.errors import CNIError, ErrorCode
    from lab.cni.version import CURRENT

    err = CNIError(ErrorCode.DECODE_FAILURE, "pycni daemon: bad request", why)
    return encode_answer(1, json.dumps(err.to_dict(CURRENT)) + "\n", "")


def serve_connection(conn: socket.socket) -> None:
    if peer_uid(conn) != os.geteuid():
        return  # only the daemon's own user (root) may run CNI calls: closed, not taken
    conn.sendall(TAKEN)
    conn.settimeout(REQUEST_TIMEOUT)
    try:
        environ, stdin = decode_request(read_request(conn))
    except (WireError, TimeoutError) as e:
        conn.sendall(refusal(str(e) or "the request was not sent in time"))
        return
    conn.settimeout(None)
    conn.sendall(run_call(environ, stdin))


class Health:
    """What a call must not change in a worker that serves the next one.

    A call's log file stays open until the next call replaces it: the slack.
    """

    FD_SLACK = 2

    def __init__(self) -> None:
        self.netns = os.stat("/proc/thread-self/ns/net").st_ino
        self.fds = len(os.listdir("/proc/self/fd"))

    def intact(self) -> bool:
        return (
            threading.active_count() == 1
            and os.stat("/proc/thread-self/ns/net").st_ino == self.netns
            and len(os.listdir("/proc/self/fd")) <= self.fds + self.FD_SLACK
        )


def work(control: socket.socket) -> None:
    """The worker's life: warm up, then serve connections until told (EOF) or worn out."""
    warm_up()
    health = Health()
    for served in range(1, MAX_CALLS + 1):
        try:
            _, fds, _, _ = socket.recv_fds(control, 1, 1)
        except ConnectionError:
            return
        if not fds:
            return  # the master is gone, or stops us
        with socket.socket(fileno=fds[0]) as conn, contextlib.suppress(OSError):
            serve_connection(conn)  # OSError: the client went away, nobody to answer
        if served == MAX_CALLS or not health.intact():
            control.send(RETIRING)
            return
        control.send(READY)


def start_worker(control: socket.socket, masters: list[socket.socket]) -> int:
    """Fork a worker that keeps `control` and closes the master's other sockets: the
    listener above all, whose abstract name must go when the master closes it."""
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for sock in masters:
            sock.close()
        name_process(b"pycni-worker")
        work(control)
        status = 0
    finally:
        os._exit(status)


def name_process(name: bytes) -> None:
    """The name `ps` and /proc/PID/comm show (PR_SET_NAME): how `cnilab down` finds us."""
    import ctypes

    pr_set_name = 15
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_name, ctypes.c_char_p(name[:15]), 0, 0, 0)

"""`pycni agent`: a warm process per node that runs CNI calls for the thin `pycni`.

Each call is served by its own child process, forked from the warm agent ahead of
time: the child may enter namespaces, crash or leak without harming the agent,
and concurrent calls run in parallel processes exactly as separate plugin
executions would (the IPAM lock still serialises what must be). A child serves
one call and exits; the agent keeps a few idle children ready, each already warmed
up after the fork (Python touching its objects copies pages, and that cost should
not land on a CNI call).

The agent listens on an abstract unix socket, which exists only inside the network
namespace the agent runs in: one agent per node, found without a path.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import struct
import sys

from lab.pycni.entry import AGENT_SOCKET
from lab.pycni.wire import WireError, decode_request, encode_answer

IDLE_WORKERS = 4
MAX_REQUEST = 1 << 20


def peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def warm_up() -> None:
    """Pay pyroute2's first-use costs before a call arrives."""
    from pyroute2 import IPRoute

    from lab.pycni import plugin  # noqa: F401

    with IPRoute() as ipr:
        ipr.link("get", index=1)


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


def serve_one(listener: socket.socket) -> None:
    """A worker's whole life: warm up, take one connection, answer, exit."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    warm_up()
    conn, _ = listener.accept()
    listener.close()
    with conn:
        if peer_uid(conn) != os.geteuid():
            return  # only the agent's own user (root) may run CNI calls
        try:
            environ, stdin = decode_request(read_request(conn))
        except WireError as e:
            conn.sendall(encode_answer(1, "", f"pycni agent: {e}\n"))
            return
        conn.sendall(run_call(environ, stdin))


def spawn(listener: socket.socket) -> int:
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            serve_one(listener)
            status = 0
        finally:
            os._exit(status)
    return pid


def serve(address: str = AGENT_SOCKET, idle: int = IDLE_WORKERS) -> None:
    warm_up()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(128)
    workers: set[int] = set()

    def stop(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            while len(workers) < idle:
                workers.add(spawn(listener))
            pid, _ = os.wait()  # a worker served its call (or died): replace it
            workers.discard(pid)
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            except ProcessLookupError:
                pass
        listener.close()


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pycni agent", description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=IDLE_WORKERS, help="warm workers kept ready")
    opts = parser.parse_args(argv)
    try:
        serve(idle=max(1, opts.idle))
    except OSError as e:
        print(f"pycni agent: cannot listen: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0

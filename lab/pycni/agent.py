"""`pycni agent`: a warm process per node that runs CNI calls for the thin `pycni`.

Each call is served by a forked child: the child may enter namespaces, crash or
leak without harming the agent, and concurrent calls run in parallel processes
exactly as separate plugin executions would (the IPAM lock still serialises them).
The agent listens on an abstract unix socket, which exists only inside the
network namespace the agent runs in: one agent per node, found without a path.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import socketserver
import struct
import sys

from lab.pycni.entry import AGENT_SOCKET

MAX_REQUEST = 1 << 20


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[2]


class CallHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        if peer_uid(self.connection) != os.geteuid():
            return  # only the agent's own user (root) may run CNI calls
        request = json.loads(self.rfile.read(MAX_REQUEST))
        self.wfile.write(json.dumps(run_call(request["env"], request["stdin"])).encode())


def run_call(environ: dict[str, str], stdin: str) -> dict[str, object]:
    """Run one call in this (forked) process and capture what the executable would print."""
    from lab.pycni import plugin

    out, err = io.StringIO(), io.StringIO()
    code = plugin.run(stdin.encode("latin-1"), environ, stdout=out, stderr=err)
    return {"stdout": out.getvalue(), "stderr": err.getvalue(), "exit": code}


class AgentServer(socketserver.ForkingMixIn, socketserver.UnixStreamServer):
    max_children = 512  # 50+ pods at once must not queue behind the default 40
    block_on_close = False


def serve(address: str = AGENT_SOCKET) -> None:
    from lab.pycni import plugin  # noqa: F401  (import now, so every child starts warm)

    with AgentServer(address, CallHandler) as server:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server.serve_forever()


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pycni agent", description=__doc__)
    parser.parse_args(argv)
    try:
        serve()
    except OSError as e:
        print(f"pycni agent: cannot listen: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0

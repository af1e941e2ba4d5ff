"""The `pycni` executable: a thin client first, the whole plugin only when needed.

A runtime starts this file for every CNI call. Importing pyroute2 costs ~200 ms,
so when the node runs `pycni agent` (warm, with everything imported) we only
forward the call to it over an abstract unix socket. Abstract sockets belong to a
network namespace, so the agent we reach is always the one of *this* node.
Only the standard library is imported before we know we need more.
"""

from __future__ import annotations

import json
import os
import socket
import sys

AGENT_SOCKET = "\0cnilab/pycni-agent"
NO_AGENT_ENV = "PYCNI_NO_AGENT"
FORWARDED_PREFIXES = ("CNI_", "PYCNI_")


def request_bytes(environ: dict[str, str], stdin: bytes) -> bytes:
    env = {k: v for k, v in environ.items() if k.startswith(FORWARDED_PREFIXES)}
    return json.dumps({"env": env, "stdin": stdin.decode("latin-1")}).encode()


def call_agent(environ: dict[str, str], stdin: bytes) -> dict[str, object] | None:
    """The agent's answer, or None when no agent listens in this namespace."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(AGENT_SOCKET)
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        sock.sendall(request_bytes(environ, stdin))
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        sock.close()
    answer = json.loads(b"".join(chunks) or b"null")
    if not isinstance(answer, dict):
        raise ValueError("the pycni agent closed the connection without an answer")
    return answer


def _agent_failed(e: Exception) -> int:
    # The agent may have done part of the work: no silent fallback, a spec error instead.
    from lab.cni.errors import CNIError, ErrorCode
    from lab.cni.version import CURRENT

    err = CNIError(ErrorCode.TRY_AGAIN_LATER, "the pycni agent failed", str(e))
    sys.stdout.write(json.dumps(err.to_dict(CURRENT)) + "\n")
    return 1


def main() -> None:
    if sys.argv[1:2] == ["agent"]:
        from lab.pycni.agent import cli

        sys.exit(cli(sys.argv[2:]))
    stdin = b"" if sys.stdin is None else sys.stdin.buffer.read()
    if os.environ.get(NO_AGENT_ENV) != "1":
        try:
            answer = call_agent(dict(os.environ), stdin)
        except (OSError, ValueError) as e:
            sys.exit(_agent_failed(e))
        if answer is not None:
            sys.stdout.write(str(answer.get("stdout", "")))
            sys.stderr.write(str(answer.get("stderr", "")))
            sys.exit(int(answer.get("exit", 1)))  # type: ignore[call-overload]
    from lab.pycni.plugin import run

    sys.exit(run(stdin))


if __name__ == "__main__":
    main()

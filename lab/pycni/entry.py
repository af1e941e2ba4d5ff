"""The `pycni` executable: a thin client first, the whole plugin only when needed.

A runtime starts this file for every CNI call. Importing pyroute2 costs ~200 ms,
so when the node runs `pycni agent` (warm, with everything imported) we only
forward the call to it over an abstract unix socket. Abstract sockets belong to a
network namespace, so the agent we reach is always the one of *this* node.

Start-up time is the whole game here, so this file imports only `_socket` (the C
core of `socket`; the Python wrapper pulls in enum and selectors, ~12 ms) and
`lab.pycni.wire` (no json).
"""

from __future__ import annotations

import _socket
import os
import sys

from lab.pycni.wire import WireError, decode_answer, encode_request

AGENT_SOCKET = "\0cnilab/pycni-agent"
NO_AGENT_ENV = "PYCNI_NO_AGENT"


def call_agent(environ: dict[str, str], stdin: bytes) -> tuple[int, bytes, bytes] | None:
    """The agent's (exit code, stdout, stderr), or None when no agent listens here.

    None too when a CNI_* value is not UTF-8 (os.environ keeps such bytes as surrogate
    escapes): the wire cannot carry it, and the in-process path answers it with code 4.
    """
    try:
        request = encode_request(environ, stdin)
    except UnicodeEncodeError:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(AGENT_SOCKET)
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        sock.sendall(request)
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        sock.close()
    return decode_answer(b"".join(chunks))


def _agent_failed(e: Exception) -> int:
    # The agent may have done part of the work: no silent fallback, a spec error instead.
    import json

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
        except (OSError, WireError) as e:
            sys.exit(_agent_failed(e))
        if answer is not None:
            code, out, err = answer
            sys.stdout.buffer.write(out)
            sys.stderr.buffer.write(err)
            sys.exit(code)
    from lab.pycni.plugin import run

    sys.exit(run(stdin))


if __name__ == "__main__":
    main()

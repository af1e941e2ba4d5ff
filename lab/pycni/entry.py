"""The `pycni` executable: a thin client first, the whole plugin only when needed.

A runtime starts this file for every CNI call. Importing pyroute2 costs ~200 ms,
so when the node runs `pycni daemon` (warm, with everything imported) we only
forward the call to it over an abstract unix socket. Abstract sockets belong to a
network namespace, so the daemon we reach is always the one of *this* node. When
none answers, this call starts one for the next calls (lab/pycni/daemon_control.py)
and does its own work in-process.

Start-up time is the whole game here, so this file imports only `_socket` (the C
core of `socket`; the Python wrapper pulls in enum and selectors, ~12 ms) and
`lab.pycni.daemon_protocol` (no json).
"""

from __future__ import annotations

import _socket
import os
import sys

from lab.pycni.daemon_protocol import WireError, decode_answer, encode_request

DAEMON_SOCKET = "\0cnilab/pycni-daemon"
NO_DAEMON_ENV = "PYCNI_NO_DAEMON"


def call_daemon(environ: dict[str, str], stdin: bytes) -> tuple[int, bytes, bytes] | None:
    """The daemon's (exit code, stdout, stderr), or None when no daemon served the call.

    None when nothing listens here, and when the connection ended before a worker took
    the call (a daemon leaving when idle, with our call still in its queue). None too
    when a CNI_* value is not UTF-8 (os.environ keeps such bytes as surrogate escapes):
    the wire cannot carry it, and the in-process path answers it with code 4.
    """
    try:
        request = encode_request(environ, stdin)
    except UnicodeEncodeError:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(DAEMON_SOCKET)
            sock.sendall(request)
            sock.shutdown(_socket.SHUT_WR)
            first = sock.recv(65536)
        except (ConnectionRefusedError, FileNotFoundError, BrokenPipeError, ConnectionResetError):
            return None
        if not first:
            return None
        chunks = [first]
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        sock.close()
    return decode_answer(b"".join(chunks))


def _daemon_failed(e: Exception) -> int:
    # The daemon took the call and may have done part of it: no silent fallback.
    import json

    from lab.cni.errors import CNIError, ErrorCode
    from lab.cni.version import CURRENT

    err = CNIError(ErrorCode.TRY_AGAIN_LATER, "the pycni daemon failed", str(e))
    sys.stdout.write(json.dumps(err.to_dict(CURRENT)) + "\n")
    return 1


def main() -> None:
    if sys.argv[1:2] == ["daemon"]:
        from lab.pycni.daemon import cli

        sys.exit(cli(sys.argv[2:]))
    stdin = b"" if sys.stdin is None else sys.stdin.buffer.read()
    use_daemon = os.environ.get(NO_DAEMON_ENV) != "1"
    if use_daemon:
        try:
            answer = call_daemon(dict(os.environ), stdin)
        except (OSError, WireError) as e:
            sys.exit(_daemon_failed(e))
        if answer is not None:
            code, out, err = answer
            sys.stdout.buffer.write(out)
            sys.stderr.buffer.write(err)
            sys.exit(code)
        if os.environ.get("CNI_COMMAND") != "VERSION":
            from lab.pycni.daemon_control import start_for_call

            start_for_call(stdin)
    from lab.pycni.plugin import run

    sys.exit(run(stdin))


if __name__ == "__main__":
    main()

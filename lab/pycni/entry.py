"""The `pycni` executable: a thin client first, the whole plugin only when needed.

A runtime starts this file for every CNI call. Importing pyroute2 costs ~200 ms,
so when the node runs `pycni daemon` (warm, with everything imported) we only
forward the call to it over an abstract unix socket. Abstract sockets belong to a
network namespace, so the daemon we reach is always the one of *this* node. When
none answers, this call starts one for the next calls (lab/pycni/daemon_control.py)
and does its own work in-process.

Start-up time is the whole game here, so on the way to the daemon this file imports
only modules built into the interpreter: `_socket` (the C core of `socket`, whose
Python wrapper pulls in enum and selectors, ~12 ms) and `posix` (`os` costs 1.5 ms of
CPU with `-S`), plus `lab.pycni.daemon_protocol` (no json). Not even `__future__`.
"""

import _socket
import posix
import sys

from lab.pycni.daemon_protocol import DAEMON_SOCKET, WireError, decode_answer, encode_request

NO_DAEMON_ENV = b"PYCNI_NO_DAEMON"


def call_daemon(environ: dict[bytes, bytes], stdin: bytes) -> tuple[int, bytes, bytes] | None:
    """The daemon's (exit code, stdout, stderr), or None when no daemon served the call:
    nothing listens here, or the connection ended before a worker took the call (a
    daemon leaving when idle, with our call still in its queue)."""
    request = encode_request(environ, stdin)
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
    use_daemon = posix.environ.get(NO_DAEMON_ENV) != b"1"
    if use_daemon:
        try:
            answer = call_daemon(posix.environ, stdin)
        except (OSError, WireError) as e:
            sys.exit(_daemon_failed(e))
        if answer is not None:
            code, out, err = answer
            sys.stdout.buffer.write(out)
            sys.stderr.buffer.write(err)
            sys.exit(code)
        if posix.environ.get(b"CNI_COMMAND") != b"VERSION":
            from lab.pycni.daemon_control import start_for_call

            start_for_call(stdin)
    from lab.pycni.plugin import run

    sys.exit(run(stdin))


if __name__ == "__main__":
    main()

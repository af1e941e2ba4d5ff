"""The thin client's conversation with `pycni daemon`: plain bytes, no json import.

Every CNI call starts a new interpreter, and `json` + `socket` alone add ~25 ms
to it, more than the reference plugin's whole ADD. So the format is trivial:

    request: b"CNI1\\n" NAME=VALUE\\0 ... \\0 <stdin bytes>
    answer:  b"+" b"<exit code> <len(stdout)>\\n" <stdout bytes> <stderr bytes>

Environment values cannot hold NUL, so NUL separates them safely. They travel as the
bytes the runtime gave, and the daemon decodes them as os.environ would have
(UTF-8, surrogate escapes), so a value that is not UTF-8 meets the same check there. The leading
b"+" is sent by the worker the moment it takes the call, before it reads the
request: a connection that ends without it was never served (a daemon that went
idle with the call still queued), so the client may safely do the work itself.
"""

# No `from __future__ import annotations`: even that import costs the thin client.
DAEMON_SOCKET = "\0cnilab/pycni-daemon"  # abstract: one per network namespace, no file
MAGIC = b"CNI1\n"
TAKEN = b"+"
FORWARDED_PREFIXES = ("CNI_", "PYCNI_")
FORWARDED = (b"CNI_", b"PYCNI_")


class WireError(ValueError):
    pass


def encode_request(environ: dict[bytes, bytes], stdin: bytes) -> bytes:
    """`environ` as os.environb (or posix.environ) holds it: bytes."""
    pairs = [k + b"=" + v + b"\0" for k, v in environ.items() if k.startswith(FORWARDED)]
    return MAGIC + b"".join(pairs) + b"\0" + stdin


def decode_request(data: bytes) -> tuple[dict[str, str], bytes]:
    if not data.startswith(MAGIC):
        raise WireError("not a pycni request")
    rest = data[len(MAGIC) :]
    if rest.startswith(b"\0"):  # no variables at all
        head, stdin = b"", rest[1:]
    else:
        head, sep, stdin = rest.partition(b"\0\0")
        if not sep:
            raise WireError("truncated pycni request")
    env = {}
    for pair in head.split(b"\0") if head else []:
        key, eq, value = pair.decode("utf-8", "surrogateescape").partition("=")
        if not eq or not key.startswith(FORWARDED_PREFIXES):
            raise WireError(f"bad variable in pycni request: {key!r}")
        env[key] = value
    return env, stdin


def encode_answer(code: int, stdout: str, stderr: str) -> bytes:
    """The answer after TAKEN (which the worker has sent already)."""
    out = stdout.encode()
    return f"{code} {len(out)}\n".encode() + out + stderr.encode()


def decode_answer(data: bytes) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) from everything the daemon sent, TAKEN included."""
    if not data.startswith(TAKEN):
        raise WireError("the pycni daemon answered garbage")
    head, sep, body = data[len(TAKEN) :].partition(b"\n")
    try:
        code, length = (int(x) for x in head.split())
    except ValueError:
        raise WireError("the pycni daemon answered garbage") from None
    if not sep or length > len(body):
        raise WireError("the pycni daemon's answer was cut short")
    return code, body[:length], body[length:]

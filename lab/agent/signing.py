"""Signed agent requests: the token never travels, and a captured request cannot be replayed.

The client signs each request with HMAC-SHA256, keyed by the shared token, over:

    cnilab-agent-1 \\n NODE \\n METHOD \\n PATH?QUERY \\n TIME \\n NONCE \\n SHA-256(body)

and sends TIME, NONCE and the signature in the X-Cnilab-* headers. The node's name is in
it because the Vagrant nodes share one token: a request signed for node1 is refused by
node2. The agent checks the headers' form first (so any odd byte is a 401, never a
500), then the time (within WINDOW either way: VM clocks differ by seconds), then the
signature in constant time, and last the nonce, remembered for as long as its time
stays acceptable, so a second use of one is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping

SCHEME = "cnilab-agent-1"
TIME_HEADER = "X-Cnilab-Time"
NONCE_HEADER = "X-Cnilab-Nonce"
SIGNATURE_HEADER = "X-Cnilab-Signature"
WINDOW = 120.0  # seconds either way
MAX_NONCES = 200_000  # signed requests in 2 WINDOWs; beyond it, 503
_TIME = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")  # used with fullmatch: no "\n" gets by
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class SignatureError(Exception):
    """The request is not signed by someone holding the token (401)."""


class NoncesFull(Exception):
    """Too many signed requests to remember (503): refuse rather than forget one."""


def _message(node: str, method: str, target: str, stamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    text = "\n".join((SCHEME, node, method, target, stamp, nonce, digest))
    return text.encode("latin-1")  # WSGI's own encoding of paths; the client sends ASCII


def _mac(token: bytes, message: bytes) -> bytes:
    return hmac.new(token, message, hashlib.sha256).hexdigest().encode()


def sign(
    token: str, node: str, method: str, target: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The headers that sign this request for agent `node`."""
    if not target.isascii():
        raise ValueError("agent paths are ASCII")
    stamp = f"{time.time() if now is None else now:.3f}"
    nonce = secrets.token_urlsafe(18)
    mac = _mac(token.encode(), _message(node, method, target, stamp, nonce, body))
    return {TIME_HEADER: stamp, NONCE_HEADER: nonce, SIGNATURE_HEADER: mac.decode()}


class Verifier:
    """The agent's side: checks signatures and remembers the nonces of the last window."""

    def __init__(self, token: str, node: str, window: float = WINDOW) -> None:
        self.token = token.encode()
        self.node = node
        self.window = window
        self.max_nonces = MAX_NONCES
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> forget after (monotonic)
        self._lock = threading.Lock()

    def verify(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, now: float
    ) -> None:
        stamp = headers.get(TIME_HEADER, "")
        nonce = headers.get(NONCE_HEADER, "")
        given = headers.get(SIGNATURE_HEADER, "")
        if not given:
            raise SignatureError(
                f"sign the request with the agent's token ({SIGNATURE_HEADER}, see lab/agent)"
            )
        if not (_TIME.fullmatch(stamp) and _NONCE.fullmatch(nonce) and _SIGNATURE.fullmatch(given)):
            raise SignatureError("malformed request signature")
        skew = float(stamp) - now
        if abs(skew) > self.window:
            raise SignatureError(
                f"the request's time is {skew:+.0f} s off the agent's clock "
                f"(at most {self.window:g} s allowed): set the clocks right"
            )
        expected = _mac(self.token, _message(self.node, method, target, stamp, nonce, body))
        if not hmac.compare_digest(expected, given.encode("ascii")):
            raise SignatureError("wrong signature (another token, or another node's request)")
        self._remember(nonce)

    def _remember(self, nonce: str) -> None:
        clock = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < clock:
                self._seen.popitem(last=False)
            if nonce in self._seen:
                raise SignatureError("replayed request: this nonce was used already")
            if len(self._seen) >= self.max_nonces:
                raise NoncesFull("too many requests; retry later")
            self._seen[nonce] = clock + 2 * self.window

"""The agent's guards, piece by piece and without namespaces: signatures, the certificate,
where probes may go, and what a failing request tells the client."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from lab.agent.cert import CertError, ensure_cert, parse_fingerprint
from lab.agent.reach import LabReach, OutsideLab, parse_networks
from lab.agent.scope import NodeScope
from lab.agent.server import AgentApp
from lab.agent.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIME_HEADER,
    NoncesFull,
    SignatureError,
    Verifier,
    sign,
)

TOKEN = "t0ken"


def verify(v: Verifier, headers: dict[str, str], body: bytes = b"", path: str = "/v1/info") -> None:
    v.verify("GET", path, headers, body, time.time())


def test_a_signature_holds_once_for_its_node_path_and_body() -> None:
    v = Verifier(TOKEN, "node1")
    headers = sign(TOKEN, "node1", "GET", "/v1/info", b"x")
    verify(v, headers, b"x")
    with pytest.raises(SignatureError, match="replayed"):
        verify(v, headers, b"x")
    for changed in (
        lambda: verify(v, sign(TOKEN, "node1", "GET", "/v1/info", b"x"), b"y"),
        lambda: verify(v, sign(TOKEN, "node1", "GET", "/v1/info", b""), path="/v1/ask"),
        lambda: verify(v, sign(TOKEN, "node2", "GET", "/v1/info", b"")),
        lambda: verify(v, sign("other", "node1", "GET", "/v1/info", b"")),
        lambda: v.verify("POST", "/v1/info", sign(TOKEN, "node1", "GET", "/v1/info", b""), b"", 0),
    ):
        with pytest.raises(SignatureError):
            changed()


@pytest.mark.parametrize(
    "header, value",
    [
        (SIGNATURE_HEADER, "²" * 64),
        (SIGNATURE_HEADER, "A" * 64),
        (SIGNATURE_HEADER, "0" * 64 + "\n"),
        (TIME_HEADER, "1e9"),
        (TIME_HEADER, "nan"),
        (TIME_HEADER, "١٢٣"),  # digits, but not ASCII ones
        (NONCE_HEADER, "short"),
        (NONCE_HEADER, "ü" * 20),
    ],
)
def test_a_malformed_header_is_a_signature_error(header: str, value: str) -> None:
    headers = {**sign(TOKEN, "node1", "GET", "/v1/info", b""), header: value}
    with pytest.raises(SignatureError):
        verify(Verifier(TOKEN, "node1"), headers)


def test_the_window_allows_skew_and_forgets_old_nonces(monkeypatch: pytest.MonkeyPatch) -> None:
    v = Verifier(TOKEN, "node1", window=120)
    verify(v, sign(TOKEN, "node1", "GET", "/v1/info", b"", now=time.time() + 100))
    with pytest.raises(SignatureError, match="off the agent's clock"):
        verify(v, sign(TOKEN, "node1", "GET", "/v1/info", b"", now=time.time() - 130))
    v.max_nonces = 2
    verify(v, sign(TOKEN, "node1", "GET", "/v1/info", b""))
    with pytest.raises(NoncesFull):
        verify(v, sign(TOKEN, "node1", "GET", "/v1/info", b""))
    later = time.monotonic() + 241
    monkeypatch.setattr(time, "monotonic", lambda: later)
    verify(v, sign(TOKEN, "node1", "GET", "/v1/info", b""))  # the old ones are forgotten
    assert len(v._seen) == 1


def test_the_certificate_is_made_once_and_its_key_kept_private(tmp_path: Path) -> None:
    folder = tmp_path / "agent"
    made = ensure_cert(folder, "node1")
    assert ensure_cert(folder, "node1") == made
    assert (folder.stat().st_mode & 0o777, made.key.stat().st_mode & 0o777) == (0o700, 0o600)
    assert made.fingerprint == parse_fingerprint(made.fingerprint.upper())
    os.chmod(made.key, 0o644)
    with pytest.raises(CertError, match="readable by others"):
        ensure_cert(folder, "node1")
    made.key.unlink()
    with pytest.raises(CertError, match="remove both files"):
        ensure_cert(folder, "node1")


def test_probes_go_to_lab_addresses_only() -> None:
    reach = LabReach()
    for ok in ("10.244.1.2", "192.168.56.12", "203.0.113.1"):
        reach.check(ok)
    for bad in ("8.8.8.8", "127.0.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "203.0.113.2"):
        with pytest.raises(OutsideLab):
            reach.check(bad)
    narrow = LabReach(parse_networks(["10.0.0.0/24", "192.0.2.7"]))
    narrow.check("192.0.2.7")
    with pytest.raises(OutsideLab, match=r"outside the lab \(10\.0\.0\.0/24, 192\.0\.2\.7/32\)"):
        narrow.check("10.244.0.2")
    for bad in ("0.0.0.0/0", "10.0.0.0/7", "nope", "::1"):
        with pytest.raises(ValueError):
            parse_networks([bad])


class Broken:
    """An agent whose every answer fails, with internals in the exception."""

    scope = NodeScope("node1", "lab-node1")

    def info(self) -> dict[str, Any]:
        raise RuntimeError(f"/var/lib/cnilab/secret {TOKEN}")


def test_a_500_carries_an_error_id_and_no_internals(caplog: pytest.LogCaptureFixture) -> None:
    client = Client(AgentApp(Broken(), TOKEN))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="lab.agent.server"):
        r = client.get("/v1/info", headers=sign(TOKEN, "node1", "GET", "/v1/info", b""))
    body = json.loads(r.data)
    assert r.status_code == 500 and set(body) == {"error", "error_id"}
    assert "secret" not in r.text and "RuntimeError" not in r.text
    assert body["error_id"] in caplog.text and "RuntimeError" in caplog.text  # in the log


def test_an_unsigned_request_is_refused_before_routing() -> None:
    client = Client(AgentApp(Broken(), TOKEN))  # type: ignore[arg-type]
    for method, path in (("GET", "/v1/info"), ("GET", "/nothing"), ("POST", "/v1/captures")):
        r = client.open(path, method=method, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 401 and "Cnilab-Signature" in r.headers["WWW-Authenticate"]

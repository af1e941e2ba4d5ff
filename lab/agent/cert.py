"""The agent's self-signed certificate, and the SHA-256 fingerprint clients pin.

No CA and no host name: the web app knows each agent's fingerprint (shipped beside the
token, or read off the agent's first start line) and trusts exactly that certificate.
The key is P-256 (quick to make at first start); the folder is 0700 and the key 0600,
both root's. A certificate made elsewhere (the Vagrantfile makes one per VM, so node1's
app can pin node2's before node2 exists) is used as it is, once its key is private.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CERT_DIR = Path("/var/lib/cnilab/agent")
CERT_NAME, KEY_NAME = "agent.crt", "agent.key"
VALID_DAYS = 3650
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class CertError(ValueError):
    pass


@dataclass(frozen=True)
class AgentCert:
    cert: Path
    key: Path
    fingerprint: str  # 64 lowercase hex digits: SHA-256 of the DER certificate


def fingerprint_of(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def parse_fingerprint(text: str) -> str:
    """64 hex digits from what people paste: any case, with or without colons or "sha256:"."""
    clean = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if not _HEX64.match(clean):
        raise CertError("a fingerprint is the certificate's SHA-256: 64 hex digits")
    return clean


def ensure_cert(folder: Path, node: str) -> AgentCert:
    """The certificate in `folder`, made first if there is none."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    cert, key = folder / CERT_NAME, folder / KEY_NAME
    with open(folder / ".lock", "w") as lock:  # two agents starting on one folder make one
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cert.exists() and not key.exists():
            _make(cert, key, node)
    try:
        mode = key.stat().st_mode
        pem = cert.read_bytes()
    except OSError as e:
        why = f"{e.strerror}: {e.filename}"
        raise CertError(f"{folder}: {why} (remove both files to make new ones)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CertError(f"{key} is readable by others: chmod 600 it, or remove both files")
    return AgentCert(cert, key, fingerprint_of(_der(pem)))


def _der(pem: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    except ValueError as e:
        raise CertError(f"not a PEM certificate: {e}") from None


def _make(cert: Path, key: Path, node: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"cnilab agent {node}")])
    now = datetime.datetime.now(datetime.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .sign(private, hashes.SHA256())
    )
    key_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(key, key_pem, 0o600)
    _write_new(cert, built.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Written whole under a temp name, then renamed: a reader never sees half a key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

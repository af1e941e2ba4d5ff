"""The one error type of the CNI contract and the spec's well-known codes.

Everything that fails on the CNI path raises `CNIError`; only `skel` turns it into the
error JSON on stdout, so the exit door stays in one place.
"""

from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """Well-known error codes (SPEC.md "Error"); 100+ are free for plugins."""

    INCOMPATIBLE_VERSION = 1
    UNSUPPORTED_FIELD = 2
    UNKNOWN_CONTAINER = 3
    INVALID_ENV = 4
    IO_FAILURE = 5
    DECODE_FAILURE = 6
    INVALID_CONFIG = 7
    TRY_AGAIN_LATER = 11
    NOT_AVAILABLE = 50
    LIMITED_CONNECTIVITY = 51
    INTERNAL = 999


class CNIError(Exception):
    """A failure the runtime should see as the spec's error JSON."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(code, msg, details)
        self.code = int(code)
        self.msg = msg
        self.details = details

    def __str__(self) -> str:
        return f"{self.msg}: {self.details}" if self.details else self.msg

    def __repr__(self) -> str:
        return f"CNIError(code={self.code}, msg={self.msg!r}, details={self.details!r})"

    def to_dict(self, cni_version: str) -> dict[str, Any]:
        """The error object printed on stdout, for the given config version."""
        out: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CNIError":
        """Rebuild a plugin's error; raises ValueError when `d` is not an error object."""
        code = d.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            raise ValueError(f"error object has no integer code: {d!r}")
        msg = d.get("msg", "")
        details = d.get("details") or ""
        return cls(code, msg if isinstance(msg, str) else str(msg), str(details))

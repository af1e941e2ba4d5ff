"""CNI spec versions: parsing, comparison and negotiation (SPEC.md "Version considerations").

A configuration names the version its JSON speaks; the plugin must answer in that same
version or refuse with code 1, in libcni's words, so runtimes can show the reason.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from lab.cni.errors import CNIError, ErrorCode

SUPPORTED_VERSIONS: tuple[str, ...] = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
CURRENT = "1.1.0"
# libcni reads a config without "cniVersion" as the very first spec.
LEGACY = "0.1.0"


def parse_version(v: str) -> tuple[int, int, int]:
    """'1.1.0' -> (1, 1, 0); "" means 0.1.0 as in libcni; anything else is a decode error."""
    if not isinstance(v, str):
        raise CNIError(ErrorCode.DECODE_FAILURE, f"invalid CNI version {v!r}: not a string")
    text = v or LEGACY
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts):
        raise CNIError(ErrorCode.DECODE_FAILURE, f'invalid CNI version "{v}": want x.y.z')
    major, minor, micro = (int(p) for p in parts)
    return major, minor, micro


def at_least(v: str, minimum: str) -> bool:
    """True when version `v` is `minimum` or newer."""
    return parse_version(v) >= parse_version(minimum)


def _go_list(items: Sequence[str]) -> str:
    """Format like Go's %q on a []string, so messages read as libcni's do."""
    return "[" + " ".join(f'"{s}"' for s in items) + "]"


def incompatible(config: str, supported: Sequence[str]) -> CNIError:
    """libcni's version mismatch error (code 1 with the reconciler's details)."""
    return CNIError(
        ErrorCode.INCOMPATIBLE_VERSION,
        "incompatible CNI versions",
        f"config is {config}, plugin supports {_go_list(supported)}",
    )


def _declared_versions(conf: Mapping[str, Any]) -> list[str] | None:
    """The spec 1.1 "cniVersions" list, or None when absent."""
    if "cniVersions" not in conf:
        return None
    raw = conf["cniVersions"]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise CNIError(ErrorCode.DECODE_FAILURE, "cniVersions must be a list of strings")
    return raw


def _single_version(conf: Mapping[str, Any]) -> str:
    raw = conf.get("cniVersion", "")
    if not isinstance(raw, str):
        raise CNIError(ErrorCode.DECODE_FAILURE, "cniVersion must be a string")
    return raw or LEGACY


def negotiate(conf: Mapping[str, Any], supported: Sequence[str] = SUPPORTED_VERSIONS) -> str:
    """The version to speak for `conf`: the highest shared "cniVersions" entry, else "cniVersion".

    When none of "cniVersions" is supported we fall back to "cniVersion", which is what an
    older runtime would use anyway; only when that fails too is it an error (code 1).
    """
    declared = _declared_versions(conf)
    if declared:
        shared = [v for v in declared if v in supported]
        if shared:
            return max(shared, key=parse_version)
    version = _single_version(conf)
    if version in supported:
        return version
    if declared and "cniVersion" not in conf:
        raise incompatible(_go_list(declared), supported)
    raise incompatible(f'"{version}"', supported)


def conf_version(conf: Mapping[str, Any], supported: Sequence[str] = SUPPORTED_VERSIONS) -> str:
    """The version of one plugin's stdin config: the runtime's "cniVersion" wins when present.

    Inside a chain the runtime has already picked and inserted "cniVersion"; answering in
    any other version (say, the highest of "cniVersions") would break the runtime.
    """
    if "cniVersion" in conf:
        return negotiate({"cniVersion": conf["cniVersion"]}, supported)
    return negotiate(conf, supported)


def version_info(supported: Sequence[str] = SUPPORTED_VERSIONS) -> dict[str, Any]:
    """The VERSION command's answer."""
    return {"cniVersion": CURRENT, "supportedVersions": list(supported)}

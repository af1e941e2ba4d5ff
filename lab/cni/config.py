"""Network configuration: the list an administrator writes and the one object a plugin reads.

The list side (load, validate, derive each plugin's stdin) follows libcni's conf.go and
buildOneConfig; the plugin side (`PluginConf`) is the part every plugin's config shares.
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.fields import Fields
from lab.cni.result import DNS, Result, prev_result
from lab.cni.version import SUPPORTED_VERSIONS, conf_version, negotiate

# Network names and container IDs (SPEC.md section 1 and section 2 "Parameters").
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
# GC's list of attachments still in use: SPEC 1.1 names the first, libcni sends both.
VALID_ATTACHMENTS = ("cni.dev/valid-attachments", "cni.dev/attachments")

_LIST = "invalid network configuration list"
_PLUGIN = "invalid network configuration"


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object from bytes; anything else is code 6 saying what we were reading."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise CNIError(ErrorCode.DECODE_FAILURE, f"failed to decode {what}: {e}") from e
    except RecursionError as e:  # '[[[[...' deeper than the interpreter's stack
        raise CNIError(
            ErrorCode.DECODE_FAILURE, f"failed to decode {what}: nested too deeply"
        ) from e
    if not isinstance(value, dict):
        raise CNIError(
            ErrorCode.DECODE_FAILURE,
            f"failed to decode {what}: expected a JSON object, got {type(value).__name__}",
        )
    return value


def _name(f: Fields) -> str:
    """The network name, checked as libcni's ValidateNetworkName does (code 7)."""
    name = f.text("name")
    if not name:
        raise CNIError(ErrorCode.INVALID_CONFIG, "missing network name")
    if not NAME_RE.match(name):
        raise CNIError(
            ErrorCode.INVALID_CONFIG,
            "invalid characters found in network name",
            f'"{name}": must match {NAME_RE.pattern}',
        )
    return name


def _plugin_type(f: Fields) -> str:
    """The executable's name; a path separator would let a config run any file."""
    kind = f.text("type", required=True)
    if "/" in kind or "\\" in kind:
        raise f.fail("type", f'"{kind}" must be a file name, not a path')
    return kind


@dataclass
class PluginConf:
    """The fields every plugin's stdin config shares; plugin-specific keys stay in `raw`."""

    cni_version: str
    name: str
    type: str
    ipam: dict[str, Any] = field(default_factory=dict)
    dns: DNS = field(default_factory=DNS)
    prev_result: Result | None = None
    runtime_config: dict[str, Any] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], supported: Sequence[str] = SUPPORTED_VERSIONS
    ) -> "PluginConf":
        """Validate one plugin's config as the runtime passed it (cniVersion already chosen)."""
        f = Fields(d, "", _PLUGIN, ErrorCode.INVALID_CONFIG)
        return cls(
            cni_version=conf_version(d, supported),
            name=_name(f),
            type=_plugin_type(f),
            ipam=f.obj("ipam"),
            dns=DNS.from_fields(f.child("dns")),
            prev_result=prev_result(d),
            runtime_config=f.obj("runtimeConfig"),
            args=f.obj("args"),
            capabilities=f.obj("capabilities"),
            raw=d,
        )


@dataclass
class NetworkConfigList:
    """A .conflist: a named network made of a chain of plugins."""

    name: str
    cni_version: str
    cni_versions: list[str] = field(default_factory=list)
    disable_check: bool = False
    disable_gc: bool = False
    plugins: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], supported: Sequence[str] = SUPPORTED_VERSIONS
    ) -> "NetworkConfigList":
        """Validate a configuration list; structural problems are code 7."""
        f = Fields(d, "", _LIST, ErrorCode.INVALID_CONFIG)
        name = _name(f)
        cni_versions = f.texts("cniVersions")
        if "plugins" not in d:
            raise CNIError(ErrorCode.INVALID_CONFIG, f"{_LIST}: no 'plugins' key")
        plugins = f.children("plugins")
        if not plugins:
            raise CNIError(ErrorCode.INVALID_CONFIG, f"{_LIST}: no plugins in list")
        for plugin in plugins:
            _plugin_type(plugin)
        return cls(
            name=name,
            cni_version=negotiate(d, supported),
            cni_versions=cni_versions,
            disable_check=f.flag("disableCheck"),
            disable_gc=f.flag("disableGC"),
            plugins=[p.data for p in plugins],
            raw=d,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> "NetworkConfigList":
        return cls.from_dict(load_json(data, "network configuration list"))

    @classmethod
    def from_single_conf(cls, d: dict[str, Any]) -> "NetworkConfigList":
        """Wrap a legacy single-plugin .conf/.json as a list (libcni ConfListFromConf)."""
        f = Fields(d, "", _PLUGIN, ErrorCode.INVALID_CONFIG)
        _plugin_type(f)
        wrapped = {"cniVersion": d.get("cniVersion", ""), "name": _name(f), "plugins": [d]}
        return cls.from_dict(wrapped)

    @classmethod
    def from_file_bytes(cls, filename: str, data: bytes) -> "NetworkConfigList":
        """Load by extension like libcni: .conflist is a list, .conf/.json a single plugin."""
        if filename.endswith(".conflist"):
            return cls.from_bytes(data)
        return cls.from_single_conf(load_json(data, f"network configuration {filename}"))


def build_plugin_config(
    plugin: dict[str, Any],
    net: NetworkConfigList,
    cni_version: str,
    prev_result: dict[str, Any] | None,
    runtime_config: dict[str, Any] | None,
) -> bytes:
    """One plugin's stdin (libcni buildOneConfig): name, cniVersion, prevResult, runtimeConfig.

    runtimeConfig carries only the capabilities the plugin declares true, so a plugin never
    sees runtime data (port mappings, bandwidth, ...) it did not ask for.
    """
    conf = dict(plugin)
    conf["name"] = net.name
    conf["cniVersion"] = cni_version
    if prev_result is not None:
        conf["prevResult"] = prev_result
    wanted = plugin.get("capabilities")
    if isinstance(wanted, dict) and runtime_config:
        granted = {
            cap: runtime_config[cap]
            for cap, on in wanted.items()
            if on is True and cap in runtime_config
        }
        if granted:
            conf["runtimeConfig"] = granted
    return json.dumps(conf).encode()


def parse_cni_args(s: str) -> dict[str, str]:
    """CNI_ARGS "K8S_POD_NAME=web;IgnoreUnknown=1" as a dict; a pair without "=" is code 4."""
    out: dict[str, str] = {}
    for pair in s.split(";"):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CNIError(ErrorCode.INVALID_ENV, f'CNI_ARGS: invalid pair "{pair}"')
        out[key] = value
    return out

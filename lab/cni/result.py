"""The CNI Result: one internal model (spec 1.1.0), read from any version, written per version.

Plugins build the 1.1.0 model only; `Result.to_dict(version)` converts once, on output,
to whatever version the config asked for. `Result.from_dict` reads the output of any
plugin we may call (IPAM plugins still speak 0.2.0 now and then).
"""

import json
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)
from typing import Any

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.fields import Fields
from lab.cni.version import CURRENT, SUPPORTED_VERSIONS

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface
IPNetwork = IPv4Network | IPv6Network

# What each output version looks like: (ips[] carry "version", 1.1.0 fields present).
_FORMATS: dict[str, tuple[bool, bool]] = {
    "0.3.0": (True, False),
    "0.3.1": (True, False),
    "0.4.0": (True, False),
    "1.0.0": (False, False),
    "1.1.0": (False, True),
}
# Results before 0.3.0 have one "ip4"/"ip6" object instead of lists.
_LEGACY_VERSIONS = ("0.1.0", "0.2.0")
_WHAT = "invalid result"


def _cidr(f: Fields, key: str) -> IPInterface:
    text = f.text(key, required=True)
    try:
        if "/" not in text:
            raise ValueError("no prefix length")
        return ip_interface(text)
    except ValueError as e:
        raise f.fail(key, f'"{text}" is not an address in CIDR notation ({e})') from e


def _network(f: Fields, key: str) -> IPNetwork:
    text = f.text(key, required=True)
    try:
        if "/" not in text:
            raise ValueError("no prefix length")
        return ip_network(text, strict=False)
    except ValueError as e:
        raise f.fail(key, f'"{text}" is not a CIDR network ({e})') from e


def _address(f: Fields, key: str) -> IPAddress | None:
    text = f.text(key)
    if not text:
        return None
    try:
        return ip_address(text)
    except ValueError as e:
        raise f.fail(key, f'"{text}" is not an IP address') from e


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` only when it carries something (the spec omits empty optional fields)."""
    if value is not None and value != "":
        out[key] = value


@dataclass
class Interface:
    """An interface the plugin created or configured (host side or in the sandbox)."""

    name: str
    mac: str = ""
    sandbox: str = ""
    mtu: int | None = None
    socket_path: str = ""
    pci_id: str = ""

    def to_dict(self, v11: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        _put(out, "mac", self.mac)
        _put(out, "sandbox", self.sandbox)
        if v11:
            _put(out, "mtu", self.mtu)
            _put(out, "socketPath", self.socket_path)
            _put(out, "pciID", self.pci_id)
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> "Interface":
        return cls(
            name=f.text("name", required=True),
            mac=f.text("mac"),
            sandbox=f.text("sandbox"),
            mtu=f.integer("mtu", minimum=0),
            socket_path=f.text("socketPath"),
            pci_id=f.text("pciID"),
        )


@dataclass
class IPConfig:
    """An address (with its prefix) on interfaces[interface], and its gateway."""

    address: IPInterface
    gateway: IPAddress | None = None
    interface: int | None = None

    @property
    def family(self) -> str:
        """The IP version as ips[].version spells it before 1.0.0: "4" or "6"."""
        return str(self.address.version)

    def to_dict(self, with_version: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.family} if with_version else {}
        _put(out, "interface", self.interface)
        out["address"] = str(self.address)
        if self.gateway is not None:
            out["gateway"] = str(self.gateway)
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> "IPConfig":
        ipc = cls(
            address=_cidr(f, "address"),
            gateway=_address(f, "gateway"),
            interface=f.integer("interface", minimum=0),
        )
        family = f.text("version")
        if family and family != ipc.family:
            raise f.fail("version", f'is "{family}" but address {ipc.address} is IPv{ipc.family}')
        return ipc


@dataclass
class Route:
    """A route the plugin installed in the sandbox; the extra attributes are spec 1.1.0."""

    dst: IPNetwork
    gw: IPAddress | None = None
    mtu: int | None = None
    advmss: int | None = None
    priority: int | None = None
    table: int | None = None
    scope: int | None = None

    def to_dict(self, v11: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"dst": str(self.dst)}
        if self.gw is not None:
            out["gw"] = str(self.gw)
        if v11:
            for key in ("mtu", "advmss", "priority", "table", "scope"):
                _put(out, key, getattr(self, key))
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> "Route":
        return cls(
            dst=_network(f, "dst"),
            gw=_address(f, "gw"),
            mtu=f.integer("mtu", minimum=0),
            advmss=f.integer("advmss", minimum=0),
            priority=f.integer("priority", minimum=0),
            table=f.integer("table", minimum=0),
            scope=f.integer("scope", minimum=0),
        )


@dataclass
class DNS:
    """Resolver settings; shared by results and network configs."""

    nameservers: list[str] = field(default_factory=list)
    domain: str = ""
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.nameservers or self.domain or self.search or self.options)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("nameservers", "domain", "search", "options"):
            value = getattr(self, key)
            if value:
                out[key] = list(value) if isinstance(value, list) else value
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> "DNS":
        return cls(
            nameservers=f.texts("nameservers"),
            domain=f.text("domain"),
            search=f.texts("search"),
            options=f.texts("options"),
        )


@dataclass
class Result:
    """What ADD prints: interfaces, IPs, routes and DNS, in the internal 1.1.0 model."""

    cni_version: str = CURRENT
    interfaces: list[Interface] = field(default_factory=list)
    ips: list[IPConfig] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    dns: DNS = field(default_factory=DNS)

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> "Result":
        """Read a result of any version we know; bad fields are code 6 naming the field.

        `where` prefixes field paths in messages, e.g. "prevResult".
        """
        f = Fields(d, where, _WHAT, ErrorCode.DECODE_FAILURE)
        version = f.text("cniVersion")
        if not version:
            # Only the oldest results (ip4/ip6) may lack a version; guessing others loses data.
            if not (f.has("ip4") or f.has("ip6")):
                raise f.fail("cniVersion", "is required")
            version = _LEGACY_VERSIONS[0]
        if version in _LEGACY_VERSIONS:
            return _from_legacy(f, version)
        if version not in _FORMATS:
            raise CNIError(
                ErrorCode.INCOMPATIBLE_VERSION,
                f'unsupported result version "{version}"',
                f"known versions: {', '.join((*_LEGACY_VERSIONS, *_FORMATS))}",
            )
        return cls(
            cni_version=version,
            interfaces=[Interface.from_fields(x) for x in f.children("interfaces")],
            ips=[IPConfig.from_fields(x) for x in f.children("ips")],
            routes=[Route.from_fields(x) for x in f.children("routes")],
            dns=DNS.from_fields(f.child("dns")),
        )

    def to_dict(self, version: str) -> dict[str, Any]:
        """The JSON object of this result as spec `version` writes it."""
        if version not in _FORMATS:
            raise CNIError(
                ErrorCode.INCOMPATIBLE_VERSION,
                f'cannot convert result to version "{version}"',
                f"supported: {', '.join(SUPPORTED_VERSIONS)}",
            )
        with_ip_version, v11 = _FORMATS[version]
        out: dict[str, Any] = {"cniVersion": version}
        if self.interfaces:
            out["interfaces"] = [i.to_dict(v11) for i in self.interfaces]
        if self.ips:
            out["ips"] = [ip.to_dict(with_ip_version) for ip in self.ips]
        if self.routes:
            out["routes"] = [r.to_dict(v11) for r in self.routes]
        if not self.dns.is_empty():
            out["dns"] = self.dns.to_dict()
        return out

    def to_json(self, version: str) -> str:
        """to_dict as text, indented so people can read it in the call journal."""
        return json.dumps(self.to_dict(version), indent=2)


def _from_legacy(f: Fields, version: str) -> Result:
    """0.1.0/0.2.0: {"ip4": {"ip", "gateway", "routes"}, "ip6": {...}, "dns"}."""
    result = Result(cni_version=version, dns=DNS.from_fields(f.child("dns")))
    for key in ("ip4", "ip6"):
        if not f.has(key):
            continue
        block = f.child(key)
        result.ips.append(IPConfig(address=_cidr(block, "ip"), gateway=_address(block, "gateway")))
        result.routes.extend(Route.from_fields(r) for r in block.children("routes"))
    return result


def convert(d: dict[str, Any], version: str) -> dict[str, Any]:
    """Any result JSON object rewritten as `version` (e.g. a cached result for prevResult)."""
    return Result.from_dict(d).to_dict(version)


def prev_result(conf: dict[str, Any]) -> Result | None:
    """conf["prevResult"] as a Result, or None when there is none.

    Like libcni, a prevResult without its own "cniVersion" is read in the config's version.
    """
    raw = conf.get("prevResult")
    if raw is None:
        return None
    if isinstance(raw, dict) and "cniVersion" not in raw and "cniVersion" in conf:
        raw = {**raw, "cniVersion": conf["cniVersion"]}
    return Result.from_dict(raw, where="prevResult")

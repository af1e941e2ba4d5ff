"""IPAM options, host-local compatible: `ranges` (or `subnet`...), `routes`, `dataDir`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import IPAddress, IPNetwork, Route

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
TYPE = "pycni-ipam"


# The kernel refuses these as a pod's address, its gateway or a next hop.
_UNUSABLE = tuple(
    ipaddress.ip_network(n) for n in ("0.0.0.0/8", "224.0.0.0/4", "::/127", "ff00::/8")
)


def _bad(msg: str) -> CNIError:
    return CNIError(ErrorCode.INVALID_CONFIG, msg)


def _ip(value: Any, what: str) -> IPAddress:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise _bad(f"invalid IP address {value!r} in {what}") from None


@dataclass(frozen=True)
class Range:
    """One allocatable range inside a subnet; never the network, broadcast or gateway."""

    subnet: IPNetwork
    start: IPAddress
    end: IPAddress
    gateway: IPAddress | None

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, type(self.start)) and self.start <= ip <= self.end

    def overlaps(self, other: Range) -> bool:
        return self.start.version == other.start.version and not (
            self.end < other.start or other.end < self.start
        )

    def prefixed(self, ip: IPAddress) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        return ipaddress.ip_interface(f"{ip}/{self.subnet.prefixlen}")

    @classmethod
    def from_dict(cls, d: Any) -> Range:
        if not isinstance(d, dict) or "subnet" not in d:
            raise _bad('each IPAM range needs a "subnet"')
        try:
            subnet = ipaddress.ip_network(str(d["subnet"]), strict=False)
        except ValueError:
            raise _bad(f"invalid subnet {d['subnet']!r} in IPAM config") from None
        for unusable in _UNUSABLE:
            if subnet.version == unusable.version and subnet.overlaps(unusable):
                raise _bad(f"subnet {subnet} overlaps {unusable}, which no pod can be given")
        host_bits = subnet.max_prefixlen - subnet.prefixlen
        if host_bits < 2:
            raise _bad(f"subnet {subnet} is too small to allocate from (at least a /30 is needed)")
        first = subnet.network_address + 1
        last = subnet.broadcast_address - 1 if subnet.version == 4 else subnet.broadcast_address
        start = _ip(d["rangeStart"], "rangeStart") if d.get("rangeStart") else first
        end = _ip(d["rangeEnd"], "rangeEnd") if d.get("rangeEnd") else last
        gateway = _ip(d["gateway"], "gateway") if d.get("gateway") else first
        for name, ip in (("rangeStart", start), ("rangeEnd", end), ("gateway", gateway)):
            if ip not in subnet:
                raise _bad(f"{name} {ip} is outside subnet {subnet}")
        if not first <= start <= end <= last:
            raise _bad(
                f"range {start}-{end} must lie within the usable addresses {first}-{last} "
                f"of {subnet}"
            )
        return cls(subnet=subnet, start=start, end=end, gateway=gateway)


@dataclass(frozen=True)
class IPAMConf:
    network: str
    range_sets: list[list[Range]]
    routes: list[Route] = field(default_factory=list)
    data_dir: str = DEFAULT_DATA_DIR


def _range_sets(ipam: dict[str, Any]) -> list[list[Range]]:
    if "ranges" in ipam:
        raw = ipam["ranges"]
        if not isinstance(raw, list) or not raw or not all(isinstance(s, list) and s for s in raw):
            raise _bad('IPAM "ranges" must be a non-empty list of non-empty lists of ranges')
        sets = [[Range.from_dict(r) for r in rs] for rs in raw]
    elif "subnet" in ipam:
        sets = [[Range.from_dict(ipam)]]
    else:
        raise _bad('IPAM config needs "ranges" or "subnet"')
    flat = [r for rs in sets for r in rs]
    for i, a in enumerate(flat):
        for b in flat[i + 1 :]:
            if a.overlaps(b):
                raise _bad(f"IPAM ranges {a.start}-{a.end} and {b.start}-{b.end} overlap")
    for rs in sets:
        if len({r.start.version for r in rs}) != 1:
            raise _bad("a range set must hold ranges of one IP family only")
    return sets


def _routes(raw: Any) -> list[Route]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad('IPAM "routes" must be a list')
    routes = []
    for r in raw:
        if not isinstance(r, dict) or "dst" not in r:
            raise _bad('each IPAM route needs a "dst"')
        try:
            dst = ipaddress.ip_network(str(r["dst"]), strict=False)
        except ValueError:
            raise _bad(f"invalid route destination {r['dst']!r}") from None
        gw = _ip(r["gw"], "routes[].gw") if r.get("gw") else None
        if gw is not None and (gw.version != dst.version or gw.is_unspecified or gw.is_multicast):
            # the kernel would refuse it, or take 0.0.0.0 as "no gateway" and CHECK then fails
            raise _bad(f"route to {dst} cannot go via {gw}")
        routes.append(Route(dst=dst, gw=gw))
    return routes


def load_ipam_conf(conf: dict[str, Any]) -> IPAMConf:
    """Read the `ipam` section of a whole network config (the spec passes it all)."""
    ipam = conf.get("ipam")
    if not isinstance(ipam, dict):
        raise _bad('network config has no "ipam" object')
    data_dir = ipam.get("dataDir") or DEFAULT_DATA_DIR
    if not isinstance(data_dir, str) or not data_dir.startswith("/"):
        raise _bad(f"IPAM dataDir must be an absolute path, got {data_dir!r}")
    range_sets = _range_sets(ipam)
    routes = _routes(ipam.get("routes"))
    subnets = [r.subnet for rs in range_sets for r in rs]
    seen: set[IPNetwork] = set()
    for route in routes:
        # the kernel already routes the pod's own subnet, and keeps one route per dst (EEXIST)
        if route.dst in subnets or route.dst in seen:
            raise _bad(f"route to {route.dst} is given twice (or is the pod's own subnet)")
        seen.add(route.dst)
        # the pod reaches a gateway only on a subnet it has an address in (else ENETUNREACH)
        if route.gw is not None and not any(route.gw in net for net in subnets):
            raise _bad(f"route to {route.dst} via {route.gw}: the gateway is on no IPAM subnet")
    return IPAMConf(
        network=str(conf.get("name", "")),
        range_sets=range_sets,
        routes=routes,
        data_dir=data_dir,
    )

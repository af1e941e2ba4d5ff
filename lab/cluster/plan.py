"""The lab's shape: names, addresses and folders, derived from a few settings.

Pure data (no kernel access; the one question asked of the system is whether the state
dir's filesystem lets files run): `cnilab up` builds what the plan says, `cnilab down`
removes it, and the inspector, runtime and web app find everything by it.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STATE_DIR = Path("/run/cnilab")  # tmpfs: gone on reboot, like the namespaces
DEFAULT_PREFIX = "cnilab"
EXEC_FALLBACK = Path("/var/lib/cnilab/exec")  # for labs whose state dir is mounted noexec
POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")
SECONDARY_NETWORK = ipaddress.ip_network("10.245.0.0/16")  # for a pod's eth1
UNDERLAY = ipaddress.ip_network("192.168.56.0/24")
UNDERLAY_GATEWAY = ipaddress.ip_interface("192.168.56.1/24")  # the "router" in the internet ns
INTERNET_ADDRESS = ipaddress.ip_interface("203.0.113.1/32")  # TEST-NET-3
FIRST_NODE_HOST = 11  # node1 is 192.168.56.11, as on the Vagrant private network
NETWORK_NAME = "cnilab"
CONF_FILE = "10-pycni.conflist"
SECONDARY_NAME = "secondary"
SECONDARY_CONF_FILE = "20-secondary.conflist"
MAX_NODES = 9
POD_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
RESERVED_NAMES = re.compile(r"^(node\d+|underlay|internet|host)$")
# What `cnilab up --bare` leaves for the student's code to build on each node:
# bridge = cni0 with the gateway and forwarding; routes = to the peers' pod CIDRs;
# masquerade = the nft chain for traffic leaving the pod network.
BARE_PIECES = ("bridge", "routes", "masquerade")


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class Node:
    name: str  # node1
    netns: str  # cnilab-node1
    pod_cidr: str  # 10.244.0.0/24
    gateway: str  # 10.244.0.1 (on cni0)
    secondary_cidr: str  # 10.245.0.0/24, node-local (on cni1)
    underlay_ip: str  # 192.168.56.11
    state_dir: str  # /run/cnilab/nodes/node1

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    @property
    def conf_dir(self) -> str:
        return f"{self.state_dir}/net.d"

    @property
    def ipam_dir(self) -> str:
        return f"{self.state_dir}/ipam"

    @property
    def cache_dir(self) -> str:
        return f"{self.state_dir}/cache"

    @property
    def log_file(self) -> str:
        return f"{self.state_dir}/pycni.log"


@functools.lru_cache(maxsize=64)
def exec_root(state_dir: str) -> str:
    """`state_dir`, unless its filesystem is mounted noexec, as Debian's and Ubuntu's
    initramfs mount /run (the default state dir's home): a runtime execs CNI plugins by
    path, so the lab's would fail with EACCES. Then a folder of its own, named after the
    state dir, under EXEC_FALLBACK; `down` removes it with the state dir."""
    existing = Path(state_dir)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.statvfs(existing).f_flag & os.ST_NOEXEC:
        return state_dir
    digest = hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:12]
    return str(EXEC_FALLBACK / digest)


@dataclass(frozen=True)
class Plan:
    nodes: list[Node]
    prefix: str = DEFAULT_PREFIX
    state_dir: str = str(DEFAULT_STATE_DIR)
    pod_network: str = str(POD_NETWORK)
    underlay: str = str(UNDERLAY)
    underlay_netns: str = ""
    internet_netns: str = ""
    internet_address: str = str(INTERNET_ADDRESS.ip)
    bare: frozenset[str] = frozenset()  # pieces of BARE_PIECES the lab left out

    @property
    def exec_dir(self) -> str:
        """Where the lab's executables go (its plugins, the student's wrappers)."""
        return exec_root(self.state_dir)

    @property
    def bin_dir(self) -> str:
        return f"{self.exec_dir}/bin"

    @property
    def pods_dir(self) -> str:
        return f"{self.state_dir}/pods"

    @property
    def journal(self) -> str:
        return f"{self.state_dir}/journal.jsonl"

    @property
    def plan_file(self) -> str:
        return f"{self.state_dir}/lab.json"

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes)
        raise PlanError(f"unknown node {name!r} (the lab has: {known})")

    def pod_netns(self, pod: str) -> str:
        return f"{self.prefix}-{pod}"

    def namespaces(self) -> list[str]:
        """Every namespace the lab itself makes (pods come and go on top)."""
        return [self.underlay_netns, self.internet_netns, *(n.netns for n in self.nodes)]

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "bare": sorted(self.bare)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        d = json.loads(text)
        d["nodes"] = [Node(**n) for n in d["nodes"]]
        d["bare"] = parse_bare(d.get("bare", []))  # a plan written before --bare has none
        return cls(**d)


def parse_bare(
    pieces: str | list[str] | frozenset[str] | set[str] | tuple[str, ...],
) -> frozenset[str]:
    """`bridge,routes`, `all`, `none` or a collection of piece names, checked."""
    if isinstance(pieces, str):
        pieces = [p.strip() for p in pieces.split(",") if p.strip()]
    names = set(pieces)
    if "all" in names:
        names = (names - {"all"}) | set(BARE_PIECES)
    names.discard("none")
    unknown = sorted(str(n) for n in names if n not in BARE_PIECES)
    if unknown:
        raise PlanError(
            f"--bare: unknown piece(s) {', '.join(repr(u[:20]) for u in unknown)}; "
            f"choose from {', '.join(BARE_PIECES)} or all"
        )
    return frozenset(names)


def make_plan(
    nodes: int = 2,
    prefix: str = DEFAULT_PREFIX,
    state_dir: str | Path = DEFAULT_STATE_DIR,
    bare: str | frozenset[str] | set[str] = frozenset(),
) -> Plan:
    if not 1 <= nodes <= MAX_NODES:
        raise PlanError(f"--nodes must be between 1 and {MAX_NODES}, got {nodes}")
    if not re.match(r"^[a-z][a-z0-9-]{0,15}$", prefix):
        raise PlanError(f"invalid prefix {prefix!r}")
    state = str(state_dir)
    subnets = list(POD_NETWORK.subnets(new_prefix=24))
    secondary = list(SECONDARY_NETWORK.subnets(new_prefix=24))
    hosts = list(UNDERLAY.hosts())
    made = []
    for i in range(nodes):
        name = f"node{i + 1}"
        cidr = subnets[i]
        made.append(
            Node(
                name=name,
                netns=f"{prefix}-{name}",
                pod_cidr=str(cidr),
                gateway=str(cidr.network_address + 1),
                secondary_cidr=str(secondary[i]),
                underlay_ip=str(hosts[FIRST_NODE_HOST - 1 + i]),
                state_dir=f"{state}/nodes/{name}",
            )
        )
    return Plan(
        nodes=made,
        prefix=prefix,
        state_dir=state,
        underlay_netns=f"{prefix}-underlay",
        internet_netns=f"{prefix}-internet",
        bare=parse_bare(bare),
    )


def load_plan(state_dir: str | Path = DEFAULT_STATE_DIR) -> Plan | None:
    """The plan of the running lab, or None when no lab is up."""
    try:
        return Plan.from_json((Path(state_dir) / "lab.json").read_text())
    except FileNotFoundError:
        return None


def is_pod_name(name: object) -> bool:
    """Whether `name` may name a pod (and so a file under the pods dir)."""
    return (
        isinstance(name, str)
        and POD_NAME_RE.fullmatch(name) is not None
        and not RESERVED_NAMES.match(name)
    )


def validate_pod_name(name: str) -> str:
    if not isinstance(name, str) or not POD_NAME_RE.fullmatch(name):
        raise PlanError(
            f"invalid pod name {name!r}: 1-40 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    if RESERVED_NAMES.match(name):
        raise PlanError(f"{name!r} is reserved for the lab's own namespaces")
    return name

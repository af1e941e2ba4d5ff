"""What the Vagrantfile tells Vagrant, read from the Vagrantfile itself (so the VM test
follows it): the nodes, the pod network, the rsync excludes, and provision.sh's arguments
built in the same order as its `args:`."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

VAGRANTFILE = Path(__file__).resolve().parent.parent / "Vagrantfile"
_NODE = re.compile(
    r'\{\s*name:\s*"([a-z0-9-]+)",\s*ip:\s*"([0-9.]+)",\s*pod_cidr:\s*"([0-9./]+)",'
    r"\s*web:\s*(true|false)\s*\}"
)


class VagrantfileError(ValueError):
    """The Vagrantfile no longer has the shape this test reads."""


@dataclass(frozen=True)
class Node:
    name: str
    ip: str
    pod_cidr: str
    web: bool


@dataclass(frozen=True)
class Vagrantfile:
    nodes: tuple[Node, ...]
    pod_network: str
    rsync_excludes: tuple[str, ...]
    forwards: tuple[tuple[int, int], ...]  # the web node's (host port, guest port) pairs

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def provision_args(
        self, name: str, token: str, fingerprints: dict[str, str], cert: str, key: str
    ) -> list[str]:
        """provision.sh's arguments for one node, exactly as the Vagrantfile lists them."""
        node = self.node(name)
        args = ["--name", node.name, "--node-ip", node.ip, "--pod-cidr", node.pod_cidr]
        args += ["--pod-network", self.pod_network]
        for peer in self.nodes:
            if peer.name != name:
                args += ["--peer", f"{peer.pod_cidr}={peer.ip}"]
        args += ["--web"] if node.web else []
        for any_node in self.nodes:
            args += ["--agent", f"{any_node.name}={any_node.ip}={fingerprints[any_node.name]}"]
        args += ["--agent-token", token, "--agent-cert", cert, "--agent-key", key]
        return args


def read_vagrantfile(path: Path = VAGRANTFILE) -> Vagrantfile:
    text = path.read_text()
    nodes = tuple(Node(n, ip, cidr, web == "true") for n, ip, cidr, web in _NODE.findall(text))
    network = re.search(r'^POD_NETWORK\s*=\s*"([0-9./]+)"', text, re.M)
    excludes = re.search(r"rsync__exclude:\s*\[([^\]]*)\]", text)
    forwards = tuple(
        (int(host), int(guest))
        for guest, host in re.findall(
            r'"forwarded_port",\s*guest:\s*(\d+),\s*host:\s*(\d+),\s*host_ip:\s*"127\.0\.0\.1"',
            text,
        )
    )
    if len(nodes) < 2 or network is None or excludes is None:
        raise VagrantfileError(f"{path}: NODES, POD_NETWORK or rsync__exclude not found")
    for node in nodes:
        ipaddress.ip_address(node.ip)
        ipaddress.ip_network(node.pod_cidr)
    ipaddress.ip_network(network.group(1))
    listed = tuple(re.findall(r'"([^"]+)"', excludes.group(1)))
    return Vagrantfile(nodes, network.group(1), listed, forwards)

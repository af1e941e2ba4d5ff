"""Two namespaces stand in for two real hosts (as two Vagrant VMs would be).

Each "host" has eth1 on 192.168.56.0/24 (the private network, a veth between them)
and, as a trap, a NAT adapter: `nat0` (a veth looped back into the host) holding
10.0.2.15 on both hosts with the default route behind it, as every VirtualBox VM has.
Anything routed the wrong way goes there and is lost. The real host namespace is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.kernel import links
from lab.kernel.netns import iproute_in, open_netns, run_in_netns
from tests.conftest import Namespaces

CNILAB = str(Path(sys.executable).parent / "cnilab")
COUNTERS = re.compile(r"\[\d+:\d+\]")
TIMERS = re.compile(r"\b(\w+_timer)\s+[\d.]+")  # a bridge's timers tick


@dataclass
class Host:
    netns: str
    ip: str
    pod_cidr: str
    folder: Path

    @property
    def path(self) -> str:
        return f"/run/netns/{self.netns}"

    @property
    def state_file(self) -> Path:
        return self.folder / "node.json"

    @property
    def conf_dir(self) -> Path:
        return self.folder / "net.d"

    @property
    def cache_dir(self) -> Path:
        return self.folder / "cache"

    def sh(self, *argv: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["nsenter", f"--net={self.path}", "--", *argv],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert not check or proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def init_args(self, *peers: Host) -> list[str]:
        args = ["node", "init", "--netns", self.netns, "--state-file", str(self.state_file)]
        args += ["--pod-cidr", self.pod_cidr, "--node-ip", self.ip]
        for peer in peers:
            args += ["--peer", f"{peer.pod_cidr}={peer.ip}"]
        return args

    def install_args(self, bin_dir: Path) -> list[str]:
        return [
            "install",
            *("--bin-dir", str(bin_dir), "--conf-dir", str(self.conf_dir)),
            *("--pod-cidr", self.pod_cidr, "--data-dir", str(self.folder / "ipam")),
            *("--log-file", str(self.folder / "pycni.log")),
        ]

    def close_forwarding(self) -> None:
        """A host firewall as Docker leaves it, plus an nftables one: forwarding drops."""
        self.sh("iptables", "-P", "FORWARD", "DROP")
        self.sh("nft", "add table inet fw")
        self.sh(
            "nft", "add chain inet fw forward { type filter hook forward priority 0; policy drop; }"
        )

    def snapshot(self) -> dict[str, object]:
        """What node init may touch (IPv4 only, as it is): links, addresses, routes, firewall..."""
        iptables = [
            COUNTERS.sub("", line)
            for line in self.sh("iptables-save").splitlines()
            if not line.startswith("#")
        ]
        return {
            "links": TIMERS.sub(r"\1", self.sh("ip", "-d", "-o", "link", "show")),
            "addrs": self.sh("ip", "-4", "-o", "addr", "show"),
            "routes": self.sh("ip", "-4", "route", "show", "table", "all"),
            "rules": self.sh("ip", "-4", "rule", "show"),
            "nft": self.sh("nft", "list", "ruleset"),
            "iptables": iptables,
            "sysctls": run_in_netns(self.path, read_sysctls),
        }


def read_sysctls() -> dict[str, str]:
    found = {"ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text()}
    conf = Path("/proc/sys/net/ipv4/conf")
    for device in sorted(conf.iterdir()):
        for item in sorted(device.iterdir()):
            with contextlib.suppress(OSError):  # a few are write-only
                found[f"{device.name}/{item.name}"] = item.read_text()
    return found


def cnilab(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CNILAB_NODE_STATE"}
    proc = subprocess.run([CNILAB, *args], capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _wire(h1: Host, h2: Host) -> None:
    fd = open_netns(h2.path)
    try:
        with iproute_in(h1.path) as (ipr, _):
            links.create_veth_into(ipr, "eth1", "eth1", fd)
    finally:
        os.close(fd)
    for host in (h1, h2):
        host.sh("ip", "addr", "add", f"{host.ip}/24", "dev", "eth1")
        host.sh("ip", "link", "set", "eth1", "up")
        host.sh("ip", "link", "set", "lo", "up")
        host.sh("ip", "link", "add", "nat0", "type", "veth", "peer", "name", "nat0-far")
        host.sh("ip", "addr", "add", "10.0.2.15/24", "dev", "nat0")
        host.sh("ip", "link", "set", "nat0-far", "up")
        host.sh("ip", "link", "set", "nat0", "up")
        host.sh("ip", "route", "add", "default", "via", "10.0.2.2")
    for host in (h1, h2):  # carrier comes up asynchronously; snapshots need it settled
        for name in ("eth1", "nat0"):
            wait_until_up(host, name)


def wait_until_up(host: Host, name: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while "state UP" not in host.sh("ip", "-o", "link", "show", name):
        assert time.monotonic() < deadline, f"{name} in {host.netns} never came up"
        time.sleep(0.02)


@pytest.fixture
def hosts(namespaces: Namespaces, tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    pair = []
    for i, (ip, cidr) in enumerate(
        (("192.168.56.11", "10.244.0.0/24"), ("192.168.56.12", "10.244.1.0/24"))
    ):
        folder = tmp_path / f"host{i + 1}"
        folder.mkdir()
        pair.append(Host(namespaces.new(f"host{i + 1}"), ip, cidr, folder))
    h1, h2 = pair
    _wire(h1, h2)
    yield h1, h2


def assert_same_state(after: dict[str, object], before: dict[str, object]) -> None:
    """Equal snapshots, or the differing lines of each part (readable when it fails)."""
    diffs = []
    for key in before:
        if after[key] != before[key]:
            old, new = _lines(before[key]), _lines(after[key])
            diffs.append(f"{key}: gone {sorted(old - new)}; new {sorted(new - old)}")
    assert not diffs, "\n".join(diffs)


def _lines(part: object) -> set[str]:
    if isinstance(part, dict):
        return {f"{k}={v!r}" for k, v in part.items()}
    if isinstance(part, list):
        return set(part)
    return {line.strip() for line in str(part).replace("\\", "\n").splitlines()}

"""A "node" namespace stands in for the host: the real host namespace is never touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lab.cni.invoke import REFERENCE_BIN
from lab.pycni.daemon_control import stop_daemons_in
from lab.pycni.launcher import write_launchers
from tests.conftest import Namespaces

pytestmark = pytest.mark.root

VENV_BIN = Path(sys.executable).parent


@dataclass
class Call:
    exit: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Node:
    """A node namespace with a CNI bin dir, a data dir and a log; runs plugins inside it."""

    name: str
    bin_dir: Path
    data_dir: Path
    log_file: Path
    namespaces: Namespaces
    daemon: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def conf(self, **over: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "cniVersion": "1.1.0",
            "name": "testnet",
            "type": "pycni",
            "bridge": "cni0",
            "isGateway": True,
            "isDefaultGateway": True,
            "logFile": str(self.log_file),
            "ipam": {
                "type": "pycni-ipam",
                "subnet": "10.244.0.0/24",
                "dataDir": str(self.data_dir),
            },
        }
        conf.update(over)
        return conf

    def run(
        self,
        command: str,
        conf: dict[str, Any] | bytes | None,
        container_id: str = "",
        netns: str = "",
        ifname: str = "eth0",
        plugin: str = "pycni",
        env: dict[str, str] | None = None,
    ) -> Call:
        """Exec a plugin in the node namespace exactly as a runtime would."""
        cni_env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": f"/run/netns/{netns}" if netns and "/" not in netns else netns,
            "CNI_IFNAME": ifname,
            "CNI_PATH": str(self.bin_dir),
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            **self.extra_env,
            **(env or {}),
        }
        cni_env = {k: v for k, v in cni_env.items() if v != ""}
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf or {}).encode()
        proc = subprocess.run(
            ["nsenter", f"--net={self.path}", "--", str(self.bin_dir / plugin)],
            input=stdin,
            env=cni_env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        return Call(proc.returncode, proc.stdout.decode(), proc.stderr.decode())

    def sh(self, *argv: str, netns: str | None = None) -> str:
        """Run a command (ip, ping) in a namespace; the node's by default."""
        target = f"/run/netns/{netns}" if netns else self.path
        proc = subprocess.run(
            ["nsenter", f"--net={target}", "--", *argv],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return proc.stdout + proc.stderr

    def reservations(self, network: str = "testnet") -> dict[str, str]:
        folder = self.data_dir / network
        if not folder.exists():
            return {}
        return {
            p.name: p.read_bytes().decode().replace("\r\n", "/")
            for p in folder.iterdir()
            if p.name[0].isdigit()
        }

    def start_daemon(self) -> None:
        self.daemon = subprocess.Popen(
            ["nsenter", f"--net={self.path}", "--", str(self.bin_dir / "pycni"), "daemon"]
        )
        for _ in range(100):  # the daemon is ready when its abstract socket answers
            out = self.sh("ss", "-xl")
            if "cnilab/pycni-daemon" in out:
                return
            if self.daemon.poll() is not None:
                raise RuntimeError("pycni daemon exited at start")
            time.sleep(0.05)
        raise RuntimeError("pycni daemon did not start")

    def stop_daemon(self) -> None:
        if self.daemon is not None:
            self.daemon.terminate()
            self.daemon.wait(timeout=10)
            self.daemon = None


def make_bin_dir(path: Path) -> Path:
    write_launchers(path)
    if REFERENCE_BIN.is_dir():
        for ref in REFERENCE_BIN.iterdir():
            os.symlink(ref, path / ref.name)
    return path


@pytest.fixture
def node(namespaces: Namespaces, tmp_path: Path) -> Iterator[Node]:
    if not shutil.which("nsenter"):
        pytest.skip("nsenter (util-linux) is needed")
    n = Node(
        name=namespaces.new("node"),
        bin_dir=make_bin_dir(tmp_path / "bin"),
        data_dir=tmp_path / "ipam",
        log_file=tmp_path / "pycni.log",
        namespaces=namespaces,
        extra_env={"PYCNI_NO_DAEMON": "1"},
    )
    n.sh("ip", "link", "set", "lo", "up")
    try:
        yield n
    finally:
        n.stop_daemon()
        stop_daemons_in(n.path)  # one a call started itself

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
    pid: int = 0  # the plugin's own (nsenter execs it, so it keeps nsenter's pid)

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    pipes: set[str]  # the plugin's stdin, stdout and stderr as /proc/PID/fd shows them


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
        pass_fds: tuple[int, ...] = (),
    ) -> Call:
        """Exec a plugin in the node namespace exactly as a runtime would."""
        cni_env = self.cni_env(command, container_id, netns, ifname, env)
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf or {}).encode()
        return self.finish(self.start(cni_env, stdin, plugin, pass_fds))

    def cni_env(
        self,
        command: str,
        container_id: str = "",
        netns: str = "",
        ifname: str = "eth0",
        env: dict[str, str] | None = None,
    ) -> dict[str, str]:
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
        return {k: v for k, v in cni_env.items() if v != ""}

    def start(
        self,
        cni_env: dict[str, str],
        stdin: bytes,
        plugin: str = "pycni",
        pass_fds: tuple[int, ...] = (),
    ) -> Started:
        """Exec the plugin and hand it all of its stdin at once; `finish` waits for it."""
        proc = subprocess.Popen(
            ["nsenter", f"--net={self.path}", "--", str(self.bin_dir / plugin)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cni_env,
            pass_fds=pass_fds,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        pipes = {
            f"pipe:[{os.fstat(f.fileno()).st_ino}]" for f in (proc.stdin, proc.stdout, proc.stderr)
        }
        proc.stdin.write(stdin)  # a config fits in the pipe's buffer
        proc.stdin.close()
        proc.stdin = None  # given: communicate() must not flush it again
        return Started(proc, pipes)

    @staticmethod
    def finish(started: Started) -> Call:
        """Wait as a runtime does: until the plugin exits and its stdout and stderr close."""
        out, err = started.proc.communicate(timeout=60)
        return Call(started.proc.returncode, out.decode(), err.decode(), started.proc.pid)

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

    def start_daemon(self, *options: str) -> None:
        self.daemon = subprocess.Popen(
            ["nsenter", f"--net={self.path}", "--", str(self.bin_dir / "pycni"), "daemon", *options]
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

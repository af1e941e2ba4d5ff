"""Two VMs that `vagrant up` would make, inside one network namespace the test owns: QEMU,
the package server and every port live there, so nothing touches the host's own network.
Then what Vagrant does to each VM: its hostname and private address, `vagrant rsync`, the
file provisioners and provision.sh as the shell provisioner."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2 import IPRoute, netns

from lab.agent.cert import ensure_cert
from vms.guest import Completed, GuestError
from vms.image import Image
from vms.machine import SHARE_TAG, Machine, MachineSpec
from vms.source import PROJECT
from vms.vagrantfile import Vagrantfile, read_vagrantfile

SOURCE_PORT = 8000  # the package server, on the namespace's loopback
SOURCE_URL = f"http://10.0.2.2:{SOURCE_PORT}"  # what the VMs see of it through their NAT
WEB_PORT = 8080  # the Vagrantfile's forwarded port for node1's web app (checked on read)
BOOT_TIMEOUT = 600  # TCG on a shared machine: a minute or two is normal
PROVISION_TIMEOUT = 1800
CLOCK_OFFSETS = {"node1": 0, "node2": 9}  # seconds; the agents must cope with it
RSYNC_ARGS = ["--archive", "--delete", "--copy-links"]  # Vagrant's rsync__args, less -v -z


@dataclass
class VagrantLab:
    """Two booted and provisioned VMs; close() removes every process, file and namespace."""

    image: Image
    source: Path
    folder: Path
    vagrantfile: Vagrantfile = field(default_factory=read_vagrantfile)
    netns: str = field(default_factory=lambda: f"vmtest-{uuid.uuid4().hex[:8]}")
    machines: dict[str, Machine] = field(default_factory=dict)
    server: subprocess.Popen[bytes] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)  # made on the host, as Vagrant

    # -- the namespace and the package server --------------------------------------------
    def open_namespace(self) -> None:
        netns.create(self.netns)
        with IPRoute(netns=self.netns, flags=0) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    def start_server(self) -> None:
        log = (self.folder / "package-server.log").open("ab")
        with log:
            self.server = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, sys.executable, "-m", "http.server",
                 "--bind", "127.0.0.1", "--directory", str(self.source), str(SOURCE_PORT)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    # -- the VMs ------------------------------------------------------------------------------
    def boot(self) -> None:
        for index, node in enumerate(self.vagrantfile.nodes, start=1):
            spec = MachineSpec(
                name=node.name,
                index=index,
                private_port=10000 + index,
                peer_port=10000 + (2 if index == 1 else 1),
                clock_offset_s=CLOCK_OFFSETS.get(node.name, 0),
                forwards=self.vagrantfile.forwards if node.web else (),
            )
            machine = Machine(spec, self.image, self.folder, PROJECT, self.netns)
            self.machines[node.name] = machine
            machine.start()
        for machine in self.machines.values():
            self.wait_for_agent(machine)

    def wait_for_agent(self, machine: Machine) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if not machine.running():
                raise GuestError(f"{machine.spec.name}: QEMU exited; see {machine.serial_log}")
            try:
                machine.agent.connect(timeout=10)
            except GuestError:
                continue
            # as `vagrant up` waits for ssh: here, for boot to finish (DHCP on the NAT too)
            # (an agent still up from before a reboot may vanish mid-call: try again)
            left = max(deadline - time.monotonic(), 30)
            try:
                machine.agent.run(
                    ["/usr/bin/systemctl", "is-system-running", "--wait"], timeout=left
                )
            except GuestError:
                machine.agent.close()
                continue
            return
        raise GuestError(f"{machine.spec.name}: no guest agent after {BOOT_TIMEOUT} s")

    def run(self, name: str, argv: list[str], timeout: float = 120) -> Completed:
        return self.machines[name].agent.run(argv, timeout=timeout)

    def boot_id(self, name: str) -> str:
        return self.run(name, ["/bin/cat", "/proc/sys/kernel/random/boot_id"]).check().stdout

    def reboot(self) -> None:
        """`vagrant reload` without the re-provision: both VMs reboot at once."""
        before = {name: self.boot_id(name) for name in self.machines}
        for name, machine in self.machines.items():
            self.run(name, ["/usr/bin/systemctl", "reboot"], timeout=30)
            machine.agent.close()
        for name, machine in self.machines.items():
            deadline = time.monotonic() + BOOT_TIMEOUT
            while True:
                self.wait_for_agent(machine)
                try:
                    if self.boot_id(name) != before[name]:
                        break
                except GuestError:
                    pass
                if time.monotonic() > deadline:
                    raise GuestError(f"{name} did not come back from its reboot")
                machine.agent.close()
                time.sleep(2)

    # -- what Vagrant does --------------------------------------------------------------------
    def configure_guest(self, name: str) -> None:
        """Vagrant's Debian guest plugin: hostname, then eth1 in /etc/network/interfaces."""
        node = self.vagrantfile.node(name)
        agent = self.machines[name].agent
        self.run(name, ["/usr/bin/hostnamectl", "set-hostname", name]).check()
        hosts = self.run(name, ["/bin/cat", "/etc/hosts"]).check().stdout
        agent.write_file("/etc/hosts", f"127.0.1.1 {name}\n{hosts}".encode())
        interfaces = self.run(name, ["/bin/cat", "/etc/network/interfaces"]).check().stdout
        block = (
            "#VAGRANT-BEGIN\n# The contents below are automatically generated by Vagrant.\n"
            f"auto eth1\niface eth1 inet static\n      address {node.ip}\n"
            "      netmask 255.255.255.0\n#VAGRANT-END\n"
        )
        if "#VAGRANT-BEGIN" not in interfaces:
            agent.write_file("/etc/network/interfaces", (interfaces + block).encode())
        self.run(name, ["/sbin/ifup", "eth1"]).check()

    def rsync_share(self, name: str) -> None:
        """`vagrant rsync`: the project into /vagrant with the Vagrantfile's excludes."""
        mount = "/mnt/cnilab-share"
        self.run(name, ["/bin/mkdir", "-p", mount, "/vagrant"]).check()
        self.run(name, ["/bin/mount", "-t", "9p", "-o", "trans=virtio,version=9p2000.L,ro",
                        SHARE_TAG, mount]).check()  # fmt: skip
        try:
            excludes = [f"--exclude={e}" for e in ("/.vagrant/", *self.vagrantfile.rsync_excludes)]
            done = self.run(name, ["/usr/bin/rsync", *RSYNC_ARGS, *excludes, f"{mount}/",
                                   "/vagrant/"], timeout=900)  # fmt: skip
            if done.returncode not in (0, 24):  # 24: a file vanished (others edit the tree)
                done.check()
        finally:
            self.run(name, ["/bin/umount", mount])

    def provision(self, name: str, token: str, fingerprints: dict[str, str]) -> Completed:
        """The Vagrantfile's provisioners in order: two files, provision.sh, the inline rm."""
        agent = self.machines[name].agent
        cert = ensure_cert(self.folder / f"cnilab-agent-{name}", name)
        agent.write_file("/tmp/cnilab-agent.crt", cert.cert.read_bytes())
        agent.write_file("/tmp/cnilab-agent.key", cert.key.read_bytes(), mode=0o600)
        script = (PROJECT / "vagrant/provision.sh").read_bytes()
        agent.write_file("/tmp/vagrant-shell", script, mode=0o755)
        args = self.vagrantfile.provision_args(
            name, token, fingerprints, "/tmp/cnilab-agent.crt", "/tmp/cnilab-agent.key"
        )
        args += ["--package-source", SOURCE_URL]  # the only stub: packages from the host
        done = self.run(name, ["/usr/bin/sudo", "-E", "-H", "/tmp/vagrant-shell", *args],
                        timeout=PROVISION_TIMEOUT)  # fmt: skip
        (self.folder / f"{name}-provision.log").write_text(done.stdout + done.stderr)
        done.check()
        self.run(name, ["/bin/rm", "-f", "/tmp/cnilab-agent.crt", "/tmp/cnilab-agent.key"])
        return done

    def up(self) -> None:
        """Everything `vagrant up` does, timed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.open_namespace()
        self.start_server()
        self.boot()
        self.timings["boot_s"] = time.monotonic() - started
        token = secrets.token_urlsafe(24)  # the Vagrantfile's one token for every agent
        self.fingerprints = fingerprints = {
            n.name: ensure_cert(self.folder / f"cnilab-agent-{n.name}", n.name).fingerprint
            for n in self.vagrantfile.nodes
        }
        for name in self.machines:
            self.configure_guest(name)
            self.rsync_share(name)
        shared = time.monotonic()
        self.timings["network_and_rsync_s"] = shared - started - self.timings["boot_s"]
        for name in self.machines:  # one after the other, as Vagrant does
            begun = time.monotonic()
            self.provision(name, token, fingerprints)
            self.timings[f"provision_{name}_s"] = time.monotonic() - begun

    def keep_logs(self, destination: Path) -> None:
        """Copies the serial consoles and logs somewhere that outlives the lab."""
        destination.mkdir(parents=True, exist_ok=True)
        for log in self.folder.glob("*.log"):
            shutil.copy2(log, destination / log.name)

    def close(self) -> None:
        for machine in self.machines.values():
            machine.stop()
        if self.server is not None:
            self.server.terminate()
            self.server.wait(10)
            self.server = None
        if self.netns in netns.listnetns():
            pids = ["ip", "netns", "pids", self.netns]
            leftover = subprocess.run(pids, capture_output=True, text=True, check=False)
            if leftover.stdout.split():
                raise RuntimeError(f"processes left in {self.netns}: {leftover.stdout.split()}")
            netns.remove(self.netns)

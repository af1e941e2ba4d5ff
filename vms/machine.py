"""One QEMU TCG virtual machine: a copy-on-write disk over the image, the Vagrant box's two
adapters (an isolated NAT with the same address on every VM, and the private network as a
UDP socket link), the project shared read-only over 9p, a serial log and a guest agent."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vms.guest import GuestAgent
from vms.image import Image

QEMU = "qemu-system-x86_64"
SHARE_TAG = "vagrant"  # the 9p tag the guest mounts before it rsyncs, as `vagrant rsync`


@dataclass(frozen=True)
class MachineSpec:
    """What differs between node1 and node2."""

    name: str
    index: int  # 1, 2: MACs and socket ports follow it
    private_port: int  # this VM's end of the private link (UDP on the namespace's loopback)
    peer_port: int
    clock_offset_s: int = 0  # the VM's RTC starts this far from the host's clock
    forwards: tuple[tuple[int, int], ...] = ()  # (namespace loopback port, guest port)
    memory_mib: int = 1024  # as the Vagrantfile
    cpus: int = 1


@dataclass
class Machine:
    """A running VM in the test's namespace; stop() leaves no process or disk behind."""

    spec: MachineSpec
    image: Image
    folder: Path
    share: Path
    netns: str
    process: subprocess.Popen[bytes] | None = None
    agent: GuestAgent = field(init=False)

    def __post_init__(self) -> None:
        self.agent = GuestAgent(self.qga_socket)

    @property
    def disk(self) -> Path:
        return self.folder / f"{self.spec.name}.qcow2"

    @property
    def serial_log(self) -> Path:
        return self.folder / f"{self.spec.name}-serial.log"

    @property
    def qga_socket(self) -> Path:
        return self.folder / f"{self.spec.name}-qga.sock"

    def argv(self) -> list[str]:
        spec = self.spec
        rtc = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=spec.clock_offset_s)
        forwards = "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in spec.forwards)
        return [
            QEMU,
            "-name", spec.name,
            "-nodefaults", "-no-user-config", "-display", "none",
            "-accel", "tcg",
            "-m", str(spec.memory_mib), "-smp", str(spec.cpus),
            "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
            "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.show_status=1",
            "-drive", f"file={self.disk},if=virtio,format=qcow2",
            "-rtc", f"base={rtc.strftime('%Y-%m-%dT%H:%M:%S')},clock=host",
            # eth0: the provider's NAT; 10.0.2.15 on every VM, reaching only the namespace
            "-netdev", f"user,id=nat,net=10.0.2.0/24{forwards}",
            "-device", f"virtio-net-pci,netdev=nat,mac=52:54:00:00:00:{spec.index:02x}",
            # eth1: the private network 192.168.56.0/24, a point-to-point link to the peer
            "-netdev",
            f"socket,id=private,udp=127.0.0.1:{spec.peer_port},localaddr=127.0.0.1:{spec.private_port}",
            "-device", f"virtio-net-pci,netdev=private,mac=52:54:00:56:00:{spec.index:02x}",
            "-virtfs",
            f"local,path={self.share},mount_tag={SHARE_TAG},security_model=none,readonly=on",
            "-device", "virtio-serial",
            "-chardev", f"socket,id=qga,path={self.qga_socket},server=on,wait=off",
            "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
            "-serial", f"file:{self.serial_log}",
        ]  # fmt: skip

    def start(self) -> None:
        """Makes the overlay disk and boots the VM inside the test's namespace."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.disk.exists():
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                 "-b", str(self.image.disk), str(self.disk)],
                check=True,
            )  # fmt: skip
        log = (self.folder / f"{self.spec.name}-qemu.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *self.argv()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """Ends QEMU (SIGTERM, then SIGKILL) and removes its disk and socket."""
        self.agent.close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        self.disk.unlink(missing_ok=True)
        self.qga_socket.unlink(missing_ok=True)

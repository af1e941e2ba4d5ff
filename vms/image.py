"""The Debian 12 image both VMs boot: debootstrap, a kernel, the packages provision.sh
installs, and QEMU's guest agent (the test's way in, as ssh is Vagrant's). Built once and
cached by a key over everything that shapes it; the .debs it used become the VMs' apt source."""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vms.aptrepo import write_flat_repo
from vms.mirror import debian_mirror

SUITE = "bookworm"
RECIPE = 4  # bump when the build below changes what the image holds
PROVISION = Path(__file__).resolve().parent.parent / "vagrant" / "provision.sh"
# What the Vagrant box (debian/bookworm64) brings besides provision.sh's own packages.
BOX_PACKAGES = [
    *("systemd-sysv", "linux-image-amd64", "initramfs-tools", "ifupdown", "isc-dhcp-client"),
    *("dbus", "rsync", "curl", "ca-certificates", "sudo", "openssl", "qemu-guest-agent"),
]
IMAGE_BYTES = 6 * 1024**3
FSTAB = "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n"
INTERFACES = """\
# The provider's NAT adapter, as on the Vagrant box; Vagrant adds eth1 after boot.
auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp

source /etc/network/interfaces.d/*
"""


class ImageError(RuntimeError):
    """The image could not be built; the message says which step."""


@dataclass(frozen=True)
class Image:
    """A built image: the disk every VM overlays, its kernel, and the .debs it came from."""

    folder: Path

    @property
    def disk(self) -> Path:
        return self.folder / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.folder / "initrd.img"

    @property
    def debs(self) -> Path:
        return self.folder / "debian"

    def info(self) -> dict[str, object]:
        return json.loads((self.folder / "image.json").read_text())


def cache_root() -> Path:
    return Path(os.environ.get("CNILAB_VM_CACHE", "/var/cache/cnilab-vms"))


def provision_packages(script: Path = PROVISION) -> list[str]:
    """Every package provision.sh may apt-get install (its `packages=(...)` and `+=`)."""
    text = script.read_text()
    found = re.findall(r"packages\+?=\(([^)]*)\)", text)
    if not found:
        raise ImageError(f"{script}: no packages=(...) list found")
    names = [n for group in found for n in group.split()]
    bad = [n for n in names if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", n)]
    if bad:
        raise ImageError(f"{script}: not package names: {bad}")
    return names


def packages() -> list[str]:
    return sorted(set(BOX_PACKAGES) | set(provision_packages()))


def image_key(mirror: str) -> str:
    recipe = json.dumps([RECIPE, SUITE, mirror, packages(), FSTAB, INTERFACES])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def run(argv: list[str], step: str) -> None:
    """Runs one build step; its output goes to the build log, its failure names the step."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise ImageError(f"{step} failed ({result.returncode}):\n" + "\n".join(tail))


def mounts_under(folder: Path) -> list[str]:
    """Mount points at or below folder (a half-finished debootstrap may leave some)."""
    base = str(folder.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == base or p.startswith(base + "/")]


def remove_tree(folder: Path) -> None:
    """Removes a build folder, never through a mount (a bound /dev would go with it)."""
    if not folder.exists():
        return
    mounted = mounts_under(folder)
    if mounted:
        raise ImageError(f"refusing to remove {folder}: mounted inside: {mounted}")
    shutil.rmtree(folder)


def _configure(root: Path) -> None:
    """What a first boot needs without a chroot: fstab, the NAT adapter, a fresh machine id."""
    (root / "etc/fstab").write_text(FSTAB)
    (root / "etc/network/interfaces").write_text(INTERFACES)
    (root / "etc/network/interfaces.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/hostname").write_text("debian\n")
    (root / "etc/machine-id").write_text("")  # each VM makes its own at first boot
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    # Vagrant's own user exists on the box; provisioning runs as root through sudo.
    (root / "vagrant").mkdir(exist_ok=True)


def _apt_install(root: Path, names: list[str]) -> None:
    """provision.sh's packages, resolved by apt itself (debootstrap's resolver is too simple
    for npm's dependencies); no service starts in the chroot."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    chroot = ["unshare", "--mount", "--propagation", "private", "chroot", str(root)]
    env = ["/usr/bin/env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8"]
    try:
        run([*chroot, *env, "apt-get", "update", "-q"], "apt-get update (chroot)")
        run(
            [*chroot, *env, "apt-get", "install", "-y", "-q", "--no-install-recommends", *names],
            "apt-get install (chroot)",
        )
    finally:
        policy.unlink()


def _kernel_files(root: Path, folder: Path) -> None:
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise ImageError("no kernel or initrd in the image's /boot")
    shutil.copy2(kernels[-1], folder / "vmlinuz")
    shutil.copy2(initrds[-1], folder / "initrd.img")


def _build(folder: Path, mirror: str) -> None:
    root = folder / "root"
    started = time.monotonic()
    run(
        [
            # a mount namespace of its own: the proc and sys debootstrap mounts die with it
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "debootstrap",
            "--arch=amd64",
            "--components=main",
            f"--include={','.join(BOX_PACKAGES)}",
            SUITE,
            str(root),
            mirror,
        ],
        "debootstrap",
    )
    bootstrapped = time.monotonic()
    _apt_install(root, provision_packages())
    _configure(root)
    _kernel_files(root, folder)
    archives = root / "var/cache/apt/archives"
    debs = folder / "debian"
    debs.mkdir()
    for deb in archives.glob("*.deb"):
        shutil.move(deb, debs / deb.name)
    write_flat_repo(debs, SUITE)
    raw = folder / "base.raw"
    with raw.open("wb") as f:
        f.truncate(IMAGE_BYTES)
    run(["mkfs.ext4", "-q", "-F", "-L", "cnilab-root", "-d", str(root), str(raw)], "mkfs.ext4")
    run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(folder / "base.qcow2")], "qemu-img")
    raw.unlink()
    shutil.rmtree(root)
    info = {
        "mirror": mirror,
        "suite": SUITE,
        "packages": packages(),
        "debootstrap_s": round(bootstrapped - started, 1),
        "total_s": round(time.monotonic() - started, 1),
    }
    (folder / "image.json").write_text(json.dumps(info, indent=2) + "\n")


def ensure_image(cache: Path | None = None) -> Image:
    """The cached image for today's recipe, built first if missing (one builder at a time)."""
    cache = cache or cache_root()
    mirror = debian_mirror()
    key = image_key(mirror)
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / key
    with (cache / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "image.json").is_file():
            return Image(final)
        work = cache / f"{key}.building"
        remove_tree(work)
        work.mkdir()
        try:
            _build(work, mirror)
        except BaseException:
            remove_tree(work)
            raise
        remove_tree(final)
        work.rename(final)
        prune_stale(cache, key)
    return Image(final)


def prune_stale(cache: Path, keep: str) -> None:
    """Drops the images of older recipes (about 1.5 GB each); a source made for one goes too."""
    for entry in cache.iterdir():
        if re.fullmatch(r"[0-9a-f]{12}", entry.name) and entry.name != keep and entry.is_dir():
            remove_tree(entry)
            (cache / f"{entry.name}.lock").unlink(missing_ok=True)
        elif entry.name.startswith("source-") and entry.is_dir():
            link = entry / "debian"
            if not link.exists():  # its image is gone
                shutil.rmtree(entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vms.image", description=__doc__)
    parser.add_argument(
        "--cache", type=Path, help="default: $CNILAB_VM_CACHE or /var/cache/cnilab-vms"
    )
    args = parser.parse_args(argv)
    try:
        image = ensure_image(args.cache)
    except ImageError as e:
        print(f"vms.image: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"folder": str(image.folder), **image.info()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The VM tier's readers, without a VM: what they take from apt's sources, provision.sh
and the Vagrantfile, and what they refuse (so a changed file fails here, not mid-boot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vms.aptrepo import write_flat_repo
from vms.image import ImageError, mounts_under, provision_packages, remove_tree
from vms.mirror import FALLBACK, MirrorError, debian_mirror
from vms.vagrantfile import VagrantfileError, read_vagrantfile

pytestmark = pytest.mark.unit


def test_the_mirror_comes_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "a-nodesource.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n"
    )
    (parts / "b-debian.sources").write_text("Types: deb\nURIs: http://mirror.example/debian/\n")
    assert debian_mirror((tmp_path / "none.list", parts)) == "http://mirror.example/debian"
    one = tmp_path / "sources.list"
    old, new = (
        "# deb http://old/debian x main",
        "deb [arch=amd64] http://m.example:8080/debian bookworm",
    )
    one.write_text(f"{old}\n{new} main\n")
    assert debian_mirror((one,)) == "http://m.example:8080/debian"
    assert debian_mirror((tmp_path / "missing",)) == FALLBACK


def test_a_mirror_url_with_shell_or_odd_parts_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "sources.list"
    bad.write_text("deb http://evil;rm/debian bookworm main\n")
    with pytest.raises(MirrorError, match="not a plain"):
        debian_mirror((bad,))


def test_the_image_holds_every_package_provision_sh_installs(tmp_path: Path) -> None:
    names = provision_packages()
    assert {"python3-venv", "containernetworking-plugins", "nodejs", "npm", "tcpdump"} <= set(names)
    script = tmp_path / "p.sh"
    script.write_text("packages=(python3 $(evil))\n")
    with pytest.raises(ImageError, match="not package names"):
        provision_packages(script)
    script.write_text("apt-get install python3\n")
    with pytest.raises(ImageError, match="no packages"):
        provision_packages(script)


def test_the_vagrantfile_gives_nodes_excludes_forwards_and_args_in_order() -> None:
    vf = read_vagrantfile()
    assert [(n.name, n.ip, n.pod_cidr, n.web) for n in vf.nodes] == [
        ("node1", "192.168.56.11", "10.244.0.0/24", True),
        ("node2", "192.168.56.12", "10.244.1.0/24", False),
    ]
    assert ".git/" in vf.rsync_excludes and "node_modules/" in vf.rsync_excludes
    assert (8080, 8080) in vf.forwards
    pins = {"node1": "a" * 64, "node2": "b" * 64}
    args = vf.provision_args("node2", "T", pins, "/tmp/c", "/tmp/k")
    assert args[:8] == ["--name", "node2", "--node-ip", "192.168.56.12", "--pod-cidr",
                        "10.244.1.0/24", "--pod-network", "10.244.0.0/16"]  # fmt: skip
    assert args[8:10] == ["--peer", "10.244.0.0/24=192.168.56.11"]
    assert "--web" not in args and "--web" in vf.provision_args("node1", "T", pins, "c", "k")
    assert args[10:14] == ["--agent", f"node1=192.168.56.11={'a' * 64}", "--agent",
                           f"node2=192.168.56.12={'b' * 64}"]  # fmt: skip


def test_a_vagrantfile_of_another_shape_is_refused(tmp_path: Path) -> None:
    odd = tmp_path / "Vagrantfile"
    odd.write_text('POD_NETWORK = "10.244.0.0/16"\n')
    with pytest.raises(VagrantfileError):
        read_vagrantfile(odd)


def test_the_flat_repo_lists_its_packages_with_checksums(tmp_path: Path) -> None:
    write_flat_repo(tmp_path, "bookworm")  # no .debs: an empty but valid index
    release = (tmp_path / "Release").read_text()
    assert "Suite: bookworm" in release
    assert f" {len((tmp_path / 'Packages').read_bytes())} Packages" in release


def test_a_build_folder_with_a_mount_inside_is_never_removed() -> None:
    assert mounts_under(Path("/proc")) != []
    with pytest.raises(ImageError, match="mounted inside"):
        remove_tree(Path("/proc"))

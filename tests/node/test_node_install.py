"""`cnilab install`: the files a runtime needs, atomically, never over someone else's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lab.cluster.install import MARK
from lab.runtime.confs import select_network
from tests.node.conftest import cnilab


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    bin_dir, conf_dir = tmp_path / "bin", tmp_path / "net.d"
    args = ["--bin-dir", str(bin_dir), "--conf-dir", str(conf_dir)]
    return bin_dir, conf_dir, args


def test_install_writes_launchers_and_a_conflist_and_again_the_same(dirs: tuple) -> None:
    bin_dir, conf_dir, args = dirs
    out = cnilab("install", *args, "--pod-cidr", "10.244.1.0/24").stdout
    assert f"wrote {bin_dir}/pycni\n" in out and f"wrote {conf_dir}/10-pycni.conflist" in out
    files = {p: p.read_bytes() for p in [*bin_dir.iterdir(), *conf_dir.iterdir()]}
    assert sorted(p.name for p in files) == ["10-pycni.conflist", "pycni", "pycni-ipam"]
    conf = json.loads(files[conf_dir / "10-pycni.conflist"])
    assert conf["cnilab"] == MARK and conf["name"] == "cnilab" and conf["cniVersion"] == "1.0.0"
    (plugin,) = conf["plugins"]
    assert plugin["type"] == "pycni" and plugin["logFile"] == "/var/log/cnilab/pycni.log"
    assert plugin["ipam"] == {
        "type": "pycni-ipam",
        "subnet": "10.244.1.0/24",
        "dataDir": "/var/lib/cni/networks",
    }
    assert (conf_dir / "10-pycni.conflist").stat().st_mode & 0o777 == 0o644
    assert select_network(conf_dir, [str(bin_dir)]).name == "cnilab"  # a runtime takes it

    cnilab("install", *args, "--pod-cidr", "10.244.1.0/24")
    assert {p: p.read_bytes() for p in [*bin_dir.iterdir(), *conf_dir.iterdir()]} == files


def test_the_plugin_runs_with_the_empty_environment_a_runtime_may_give(dirs: tuple) -> None:
    bin_dir, _, args = dirs
    cnilab("install", *args, "--pod-cidr", "10.244.0.0/24")
    for name in ("pycni", "pycni-ipam"):
        proc = subprocess.run(
            ["env", "-i", "CNI_COMMAND=VERSION", str(bin_dir / name)],
            input=b'{"cniVersion": "1.0.0"}',
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "1.1.0" in json.loads(proc.stdout)["supportedVersions"]


def test_files_written_by_someone_else_are_kept_unless_forced(dirs: tuple) -> None:
    bin_dir, conf_dir, args = dirs
    conf_dir.mkdir()
    theirs = conf_dir / "10-pycni.conflist"
    theirs.write_text('{"name": "theirs"}')
    bin_dir.mkdir()
    (bin_dir / "pycni").write_text("#!/bin/sh\necho someone else's\n")
    out = cnilab("install", *args, "--pod-cidr", "10.244.0.0/24", check=False)
    assert out.returncode == 1
    assert f"not written by cnilab: {bin_dir}/pycni, {theirs}; pass --force" in out.stderr
    assert theirs.read_text() == '{"name": "theirs"}' and not (bin_dir / "pycni-ipam").exists()

    out = cnilab("install", *args, "--uninstall").stdout
    assert f"left {theirs}: not written by cnilab" in out and theirs.exists()

    cnilab("install", *args, "--pod-cidr", "10.244.0.0/24", "--force")
    assert json.loads(theirs.read_text())["cnilab"] == MARK
    assert not [p for p in [*bin_dir.iterdir(), *conf_dir.iterdir()] if p.name.startswith(".")]


def test_uninstall_removes_only_what_install_wrote(dirs: tuple) -> None:
    bin_dir, conf_dir, args = dirs
    cnilab("install", *args, "--pod-cidr", "10.244.0.0/24")
    (bin_dir / "bridge").write_text("the reference plugin")
    (conf_dir / "99-other.conflist").write_text("{}")
    out = cnilab("install", *args, "--uninstall").stdout
    assert out.count("removed ") == 3
    assert sorted(p.name for p in bin_dir.iterdir()) == ["bridge"]
    assert sorted(p.name for p in conf_dir.iterdir()) == ["99-other.conflist"]
    assert cnilab("install", *args, "--uninstall").stdout.strip() == "nothing to remove"


def test_a_config_that_sorts_first_is_pointed_out(dirs: tuple) -> None:
    _, conf_dir, args = dirs
    conf_dir.mkdir()
    (conf_dir / "05-kindnet.conflist").write_text("{}")
    out = cnilab("install", *args, "--pod-cidr", "10.244.0.0/24").stdout
    assert f"note: a runtime picks {conf_dir}/05-kindnet.conflist first" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--pod-cidr is required"),
        (["--pod-cidr", "10.244.0.1/24"], "did you mean 10.244.0.0/24?"),
        (["--pod-cidr", "nope"], "is not a CIDR"),
        (["--pod-cidr", "10.244.0.0/24", "--bridge", "bad name"], "invalid interface name"),
        (["--pod-cidr", "10.244.0.0/24", "--cni-version", "9.9.9"], "Invalid value"),
    ],
)
def test_bad_input(dirs: tuple, extra: list[str], message: str) -> None:
    bin_dir, conf_dir, args = dirs
    out = cnilab("install", *args, *extra, check=False)
    assert out.returncode == 2 and message in out.stderr
    assert not bin_dir.exists() and not conf_dir.exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["add", "Bad_Name"], 2, "invalid pod name 'Bad_Name'"),
        (["add", "node1"], 2, "reserved"),
        (["del", "-x"], 2, ""),
        (["add", "web", "--prefix", "../x"], 2, "invalid namespace prefix"),
        (["add", "web", "--netns", "pytest-no-such-host"], 2, "no network namespace"),
        (["add", "web"], 1, "ADD failed: no usable network config in"),
    ],
)
def test_node_pod_refuses_bad_input(dirs: tuple, args: list[str], code: int, message: str) -> None:
    bin_dir, _, where = dirs
    where += ["--cache-dir", str(bin_dir.parent), "--prefix", "pytest-nopod-"]
    out = cnilab("node", "pod", args[0], *where, *args[1:], check=False)
    assert out.returncode == code and message in out.stderr, out.stderr
    assert not Path("/run/netns/pytest-nopod-web").exists()

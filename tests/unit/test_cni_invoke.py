"""The invoker against tiny plugin executables written to tmp_path (no root needed)."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.cni import invoke
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.invoke import (
    Execution,
    RawExec,
    decode_execution,
    delegate_add,
    delegate_check,
    delegate_del,
    exec_plugin,
    find_in_path,
)

RESULT_040 = {
    "cniVersion": "0.4.0",
    "ips": [{"version": "4", "address": "10.244.0.7/24", "gateway": "10.244.0.1"}],
}
ERROR = {"cniVersion": "1.0.0", "code": 7, "msg": "bad subnet", "details": "10.0.0.0/33"}
NETCONF = b'{"cniVersion": "0.4.0", "name": "cnilab", "type": "spy"}'


def write_plugin(directory: Path, name: str, body: str, mode: int = 0o755) -> Path:
    """A /bin/sh plugin; it saves its stdin and environment beside itself for the test."""
    path = directory / name
    path.write_text(f'#!/bin/sh\ncat > "$0.stdin"\nenv > "$0.env"\n{body}\n')
    path.chmod(mode)
    return path


def printf(obj: object) -> str:
    return "printf '%s' '" + json.dumps(obj) + "'"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    write_plugin(d, "ok", printf(RESULT_040))
    write_plugin(d, "fails", printf(ERROR) + "\nexit 1")
    write_plugin(d, "fails-stderr", printf(ERROR) + " >&2\nexit 1")
    write_plugin(d, "garbage", "echo 'this is not json'")
    write_plugin(d, "stderr-only", "echo 'panic: runtime error' >&2\nexit 2")
    write_plugin(d, "silent", "exit 0")
    write_plugin(d, "legacy", printf({"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.2/16"}}))
    return d


def env_for(bin_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": "/var/run/netns/x",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": f"/nonexistent{os.pathsep}{bin_dir}",
        **extra,
    }


def saved_env(plugin: Path) -> dict[str, str]:
    lines = Path(f"{plugin}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_find_in_path(bin_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    write_plugin(other, "ok", "exit 0", mode=0o644)  # not executable: skipped
    assert find_in_path("ok", ["", str(other), str(bin_dir)]) == str(bin_dir / "ok")


@pytest.mark.parametrize("name", ["missing", "bin"])
def test_find_in_path_not_found(bin_dir: Path, name: str) -> None:
    with pytest.raises(CNIError) as exc:
        find_in_path(name, [str(bin_dir.parent), "/nonexistent"])
    assert exc.value.code == ErrorCode.INVALID_CONFIG
    assert (
        exc.value.msg == f'failed to find plugin "{name}" in path [{bin_dir.parent} /nonexistent]'
    )


@pytest.mark.parametrize("name", ["", "../ok", "/bin/sh", "..", "."])
def test_find_in_path_rejects_paths(bin_dir: Path, name: str) -> None:
    with pytest.raises(CNIError) as exc:
        find_in_path(name, [str(bin_dir)])
    assert exc.value.code == ErrorCode.INVALID_CONFIG


def test_raw_exec_records_everything(bin_dir: Path) -> None:
    env = env_for(bin_dir)
    ex = RawExec().run([str(bin_dir / "ok")], NETCONF, env)
    assert ex.argv == [str(bin_dir / "ok")]
    assert ex.env == env
    assert (ex.stdin, ex.returncode, ex.stderr) == (NETCONF, 0, b"")
    assert json.loads(ex.stdout) == RESULT_040
    assert ex.seconds > 0
    assert Path(f"{bin_dir / 'ok'}.stdin").read_bytes() == NETCONF
    seen = saved_env(bin_dir / "ok")
    assert {k: seen[k] for k in env} == env
    # exactly the env given, nothing inherited (the shell adds only its own PWD/SHLVL/_)
    assert set(seen) - set(env) <= {"PWD", "OLDPWD", "SHLVL", "_"}


def test_exec_plugin_success(bin_dir: Path) -> None:
    assert exec_plugin("ok", NETCONF, env_for(bin_dir)) == RESULT_040
    assert exec_plugin("silent", NETCONF, env_for(bin_dir)) is None


def test_error_json_on_stdout(bin_dir: Path) -> None:
    with pytest.raises(CNIError) as exc:
        exec_plugin("fails", NETCONF, env_for(bin_dir))
    assert exc.value.to_dict("1.0.0") == ERROR


def test_error_json_on_stderr(bin_dir: Path) -> None:
    with pytest.raises(CNIError) as exc:
        exec_plugin("fails-stderr", NETCONF, env_for(bin_dir))
    assert (exc.value.code, exc.value.msg) == (7, "bad subnet")


def test_garbage_output(bin_dir: Path) -> None:
    with pytest.raises(CNIError) as exc:
        exec_plugin("garbage", NETCONF, env_for(bin_dir))
    assert exc.value.code == ErrorCode.DECODE_FAILURE
    assert exc.value.msg.startswith("plugin garbage printed invalid JSON")
    assert "this is not json" in exc.value.details


def test_failure_with_only_stderr(bin_dir: Path) -> None:
    with pytest.raises(CNIError) as exc:
        exec_plugin("stderr-only", NETCONF, env_for(bin_dir))
    err = exc.value
    assert (err.code, err.msg) == (ErrorCode.INTERNAL, "plugin stderr-only failed (exit 2)")
    assert err.details == "panic: runtime error"


def test_plugin_not_found(bin_dir: Path) -> None:
    with pytest.raises(CNIError) as exc:
        exec_plugin("nope", NETCONF, env_for(bin_dir))
    assert exc.value.code == ErrorCode.INVALID_CONFIG
    assert 'failed to find plugin "nope"' in exc.value.msg


def test_timeout(bin_dir: Path) -> None:
    write_plugin(bin_dir, "slow", "exec sleep 5")
    with pytest.raises(CNIError) as exc:
        RawExec().run([str(bin_dir / "slow")], b"{}", env_for(bin_dir), timeout=0.3)
    assert exc.value.code == ErrorCode.INTERNAL
    assert exc.value.msg == "plugin slow timed out after 0.3s"


def test_retries_text_file_busy(monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> None:
    real_run = subprocess.run
    attempts = []

    def busy_twice(*args: object, **kwargs: object) -> object:
        attempts.append(1)
        if len(attempts) <= 2:
            raise OSError(errno.ETXTBSY, "Text file busy")
        return real_run(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(invoke.subprocess, "run", busy_twice)
    monkeypatch.setattr(invoke, "_BUSY_WAIT", 0.0)
    ex = RawExec().run([str(bin_dir / "ok")], NETCONF, env_for(bin_dir))
    assert (ex.returncode, len(attempts)) == (0, 3)


def test_exec_failure_is_a_cni_error(bin_dir: Path) -> None:
    write_plugin(bin_dir, "noexec", "exit 0", mode=0o644)
    with pytest.raises(CNIError) as exc:
        RawExec().run([str(bin_dir / "noexec")], b"{}", env_for(bin_dir))
    assert "failed to execute plugin noexec" in exc.value.msg


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr", "msg"),
    [
        (1, b"", b"", "plugin p failed (exit 1)"),
        (-9, b"", b"", "plugin p failed (killed by signal 9)"),
        (1, b'{"msg": "no code"}', b"", "plugin p failed (exit 1)"),
        (1, b"[1]", b"", "plugin p failed (exit 1)"),
        (0, b"[1]", b"", "plugin p printed invalid JSON: expected an object"),
    ],
)
def test_decode_execution_edge_cases(
    returncode: int, stdout: bytes, stderr: bytes, msg: str
) -> None:
    ex = Execution(["/x/p"], {}, b"", stdout, stderr, returncode, 0.01)
    with pytest.raises(CNIError) as exc:
        decode_execution(ex)
    assert exc.value.msg == msg


def test_delegate_add_reads_any_version(bin_dir: Path) -> None:
    environ = env_for(bin_dir, CNI_COMMAND="DEL")
    result = delegate_add("ok", NETCONF, environ)
    assert str(result.ips[0].address) == "10.244.0.7/24"
    assert saved_env(bin_dir / "ok")["CNI_COMMAND"] == "ADD"
    assert saved_env(bin_dir / "ok")["CNI_CONTAINERID"] == "c0ffee"

    legacy = delegate_add("legacy", NETCONF, environ)
    assert str(legacy.ips[0].address) == "10.1.0.2/16"


def test_delegate_add_needs_a_result(bin_dir: Path) -> None:
    with pytest.raises(CNIError) as exc:
        delegate_add("silent", NETCONF, env_for(bin_dir))
    assert exc.value.code == ErrorCode.DECODE_FAILURE


@pytest.mark.parametrize(("fn", "command"), [(delegate_check, "CHECK"), (delegate_del, "DEL")])
def test_delegate_check_and_del(bin_dir: Path, fn: object, command: str) -> None:
    fn("silent", NETCONF, env_for(bin_dir))  # type: ignore[operator]
    assert saved_env(bin_dir / "silent")["CNI_COMMAND"] == command
    with pytest.raises(CNIError) as exc:
        fn("fails", NETCONF, env_for(bin_dir))  # type: ignore[operator]
    assert exc.value.code == 7


def test_delegate_inherits_os_environ(bin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env_for(bin_dir, CNI_COMMAND="ADD").items():
        monkeypatch.setenv(key, value)
    delegate_del("silent", NETCONF)
    seen = saved_env(bin_dir / "silent")
    assert (seen["CNI_COMMAND"], seen["CNI_IFNAME"]) == ("DEL", "eth0")


SKEL_PLUGIN = """#!{python}
import sys
sys.path.insert(0, {root!r})
from ipaddress import ip_interface
from lab.cni.result import IPConfig, Result
from lab.cni.skel import main

class Plugin:
    def add(self, args):
        return Result(ips=[IPConfig(ip_interface("10.244.0.9/24"))])

sys.exit(main(Plugin(), about="skel spy"))
"""


def test_a_skel_plugin_through_the_invoker(bin_dir: Path) -> None:
    """Both halves of the contract meet over a real exec: env + stdin in, JSON out."""
    root = str(Path(__file__).resolve().parents[2])
    path = bin_dir / "skelspy"
    path.write_text(SKEL_PLUGIN.format(python=sys.executable, root=root))
    path.chmod(0o755)

    out = exec_plugin("skelspy", NETCONF, env_for(bin_dir))
    assert out == {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.244.0.9/24"}]}

    version = exec_plugin("skelspy", b"", {"CNI_COMMAND": "VERSION", "CNI_PATH": str(bin_dir)})
    assert version is not None and "1.1.0" in version["supportedVersions"]

    with pytest.raises(CNIError) as exc:
        exec_plugin("skelspy", NETCONF, env_for(bin_dir, CNI_IFNAME="x" * 16))
    assert exc.value.code == ErrorCode.INVALID_ENV

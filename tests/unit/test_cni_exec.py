"""The one door: the env builder, the delegate env, the journaling and fake Execs (no root)."""

import json
from pathlib import Path

import pytest

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.fake_exec import FakeExec
from lab.cni.invoke import (
    DEFAULT_PATH,
    Execution,
    JournalingExec,
    RawExec,
    cni_env,
    decode_execution,
    delegate_env,
    exec_plugin,
    plugin_argv,
)
from lab.cni.skel import CmdArgs
from lab.pycni import ipam_exec
from lab.runtime.journal import Journal

ATTACHMENT = {"container_id": "c0ffee", "netns": "/run/netns/p", "ifname": "eth0"}


def test_cni_env_has_the_contract_and_nothing_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/bin:/usr/sbin")
    monkeypatch.setenv("HOME", "/root")
    env = cni_env("ADD", ["/opt/cni/bin", "", "/usr/lib/cni"], args="A=1;B=2", **ATTACHMENT)
    assert env == {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": "/run/netns/p",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "A=1;B=2",
        "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
        "PATH": "/bin:/usr/sbin",
    }


def test_cni_env_leaves_out_what_a_call_does_not_carry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATH")
    assert cni_env("VERSION", []) == {"CNI_COMMAND": "VERSION", "PATH": DEFAULT_PATH}
    assert set(cni_env("GC", ["/b"])) == {"CNI_COMMAND", "CNI_PATH", "PATH"}


def test_delegate_env_inherits_everything_but_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caller = {**cni_env("ADD", ["/b"], **ATTACHMENT), "K8S_EXTRA": "kept"}
    env = delegate_env("DEL", caller)
    assert env == {**caller, "CNI_COMMAND": "DEL"}
    assert caller["CNI_COMMAND"] == "ADD"  # the caller's dict is not touched
    monkeypatch.setenv("CNI_COMMAND", "CHECK")
    monkeypatch.setenv("CNI_IFNAME", "net1")
    from_process = delegate_env("ADD")
    assert (from_process["CNI_COMMAND"], from_process["CNI_IFNAME"]) == ("ADD", "net1")


def test_plugin_argv() -> None:
    assert plugin_argv("/b/bridge") == ["/b/bridge"]
    argv = plugin_argv("/b/bridge", "/run/netns/node1")
    assert argv[0].endswith("nsenter") and argv[1:] == ["--net=/run/netns/node1", "--", "/b/bridge"]


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_raw_exec_runs_an_argv_list(tmp_path: Path) -> None:
    """The argv is run as given (how nsenter gets in front), stdin and env exactly as given."""
    plugin = script(tmp_path, "echoer", 'printf "%s|%s|" "$1" "$CNI_COMMAND"; cat')
    ex = RawExec().run([str(plugin), "first"], b"{}", {"CNI_COMMAND": "ADD"}, timeout=5)
    assert (ex.stdout, ex.returncode, ex.plugin) == (b"first|ADD|{}", 0, "first")
    assert ex.argv == [str(plugin), "first"]


def test_journaling_exec_records_every_run_failed_ones_included(tmp_path: Path) -> None:
    ok = script(tmp_path, "ok", "printf '{}'")
    bad = script(tmp_path, "bad", 'echo \'{"code": 7, "msg": "nope"}\'; exit 1')
    journal = Journal(tmp_path / "calls.jsonl")
    runner = JournalingExec(RawExec(), journal.sink("node1"))
    assert runner.find("ok", [str(tmp_path)]) == str(ok)
    env = cni_env("ADD", [str(tmp_path)], **ATTACHMENT)
    stdin = json.dumps({"name": "testnet", "type": "ok"}).encode()
    runner.run([str(ok)], stdin, env, 5)
    with pytest.raises(CNIError) as exc:
        decode_execution(runner.run([str(bad)], b"not json", env, 5))
    assert exc.value.code == ErrorCode.INVALID_CONFIG
    first, second = journal.tail(0)
    assert (first["node"], first["network"], first["plugin"], first["exit"]) == (
        "node1",
        "testnet",
        "ok",
        0,
    )
    assert first["env"]["CNI_CONTAINERID"] == "c0ffee" and "PATH" not in first["env"]
    assert (second["plugin"], second["exit"], second["network"]) == ("bad", 1, "")


def test_journaling_exec_wraps_any_exec_with_any_sink() -> None:
    seen: list[Execution] = []
    fake = FakeExec()
    runner = JournalingExec(fake, seen.append)
    runner.run(["/x/bridge"], b"{}", {"CNI_COMMAND": "DEL"}, 1)
    assert seen == fake.calls and seen[0].plugin == "bridge"


def test_fake_exec_scripts_replies_errors_and_exec_failures() -> None:
    fake = FakeExec(plugins=["p"])
    with pytest.raises(CNIError, match='failed to find plugin "q"'):
        fake.find("q", ["/b"])
    assert fake.find("p", ["", "/b"]) == "/b/p"
    fake.script("p", "ADD", {"cniVersion": "1.0.0"})
    fake.script("p", "DEL", CNIError(ErrorCode.TRY_AGAIN_LATER, "busy"))
    fake.script("p", "CHECK", lambda conf, env: {"echo": conf["n"], "cmd": env["CNI_COMMAND"]})
    fake.script("p", "GC", raises=CNIError(ErrorCode.INTERNAL, "timed out"))
    assert decode_execution(fake.run(["/b/p"], b"{}", {"CNI_COMMAND": "ADD"})) == {
        "cniVersion": "1.0.0"
    }
    with pytest.raises(CNIError) as exc:
        decode_execution(fake.run(["/b/p"], b"{}", {"CNI_COMMAND": "DEL"}))
    assert (exc.value.code, exc.value.msg) == (11, "busy")
    ex = fake.run(["/b/p"], b'{"n": 3}', {"CNI_COMMAND": "CHECK"})
    assert decode_execution(ex) == {"echo": 3, "cmd": "CHECK"}
    with pytest.raises(CNIError, match="timed out"):
        fake.run(["/b/p"], b"{}", {"CNI_COMMAND": "GC"})
    assert decode_execution(fake.run(["/b/p"], b"", {"CNI_COMMAND": "STATUS"})) is None
    assert fake.commands() == [("p", "ADD"), ("p", "DEL"), ("p", "CHECK"), ("p", "STATUS")]
    assert fake.sent(2) == {"n": 3}


def test_exec_plugin_takes_any_exec() -> None:
    fake = FakeExec()
    fake.script("host-local", "ADD", {"cniVersion": "1.0.0", "ips": []})
    out = exec_plugin("host-local", b"{}", {"CNI_COMMAND": "ADD", "CNI_PATH": "/b"}, 5, fake)
    assert out == {"cniVersion": "1.0.0", "ips": []}
    assert fake.calls[0].argv == ["/b/host-local"]


def test_pycni_delegates_ipam_with_the_env_it_was_called_with(tmp_path: Path) -> None:
    """Under `pycni daemon` the call runs in another process: the env comes from CmdArgs."""
    script(tmp_path, "host-local", 'env > "$0.env"')
    path = [str(tmp_path)]
    args = CmdArgs("ADD", "c0ffee", "/run/netns/p", "eth0", "K8S_POD_NAME=web", path, b"")
    ipam_exec.ipam_del({"ipam": {"type": "host-local"}}, b"{}", args)  # an ADD rolling back
    lines = (tmp_path / "host-local.env").read_text().splitlines()
    seen = dict(line.split("=", 1) for line in lines if "=" in line)
    expected = cni_env("DEL", path, args="K8S_POD_NAME=web", **ATTACHMENT)
    assert {k: v for k, v in seen.items() if k in expected} == expected


def test_a_plugin_answering_json_nested_too_deep_is_a_decoding_error() -> None:
    from lab.cni.errors import CNIError, ErrorCode
    from lab.cni.invoke import decode_execution

    deep = b"[" * 200_000 + b"]" * 200_000
    for code in (0, 1):
        ex = Execution(["/opt/cni/bin/deep"], {}, b"", deep, b"", code, 0.0)
        with pytest.raises(CNIError) as caught:
            decode_execution(ex)
        assert caught.value.code in (ErrorCode.DECODE_FAILURE, ErrorCode.INTERNAL)

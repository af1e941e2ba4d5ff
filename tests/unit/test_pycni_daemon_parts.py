"""The pure parts of `pycni daemon`: its conflist options, when a call starts one, how."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lab.cni.errors import CNIError
from lab.pycni import daemon_control
from lab.pycni.conf import parse_bridge_conf
from lab.pycni.daemon_control import DEFAULT_IDLE_EXIT, DaemonOptions, parse_options
from lab.pycni.ipam.store import DiskStore


def conf(**over: object) -> dict:
    raw = {"cniVersion": "1.1.0", "name": "n", "type": "pycni", "ipam": {"type": "pycni-ipam"}}
    raw.update(over)
    return raw


def test_options_default_to_starting_one_with_an_idle_exit() -> None:
    assert parse_options(conf()) == DaemonOptions(True, DEFAULT_IDLE_EXIT)
    assert parse_options(conf(startDaemon=False, daemonIdleExit=5)) == DaemonOptions(False, 5.0)
    assert parse_bridge_conf(conf(daemonIdleExit=2.5)).daemon.idle_exit == 2.5


@pytest.mark.parametrize(
    "over",
    [
        {"startDaemon": "no"},
        {"startDaemon": 0},
        {"daemonIdleExit": 0},
        {"daemonIdleExit": True},
        {"daemonIdleExit": "60"},
        {"daemonIdleExit": 86401},
        {"daemonIdleExit": float("nan")},
    ],
)
def test_bad_options_are_code_7_in_the_plugin(over: dict) -> None:
    with pytest.raises(CNIError) as e:
        parse_bridge_conf(conf(**over))
    assert e.value.code == 7
    assert next(iter(over)) in e.value.msg


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    calls: list[float] = []

    def fake_start(idle_exit: float) -> int:
        calls.append(idle_exit)
        return 4242

    monkeypatch.setattr(daemon_control, "start_detached", fake_start)
    return calls


@pytest.mark.parametrize(
    "stdin",
    [
        json.dumps(conf(startDaemon=False)).encode(),
        json.dumps(conf(startDaemon="false")).encode(),  # the plugin reports it: code 7
        json.dumps(conf(daemonIdleExit=-1)).encode(),
        b"[1, 2]",
        b"{not json",
        b"\xff\xfe",
        b"",
    ],
)
def test_no_start_when_the_config_says_no_or_does_not_parse(
    spawned: list[float], stdin: bytes
) -> None:
    assert daemon_control.start_for_call(stdin) is None
    assert spawned == []


def test_a_call_starts_one_with_the_configured_idle_exit(spawned: list[float]) -> None:
    assert daemon_control.start_for_call(json.dumps(conf(daemonIdleExit=7)).encode()) == 4242
    assert daemon_control.start_for_call(json.dumps(conf()).encode()) == 4242
    assert spawned == [7.0, DEFAULT_IDLE_EXIT]


def test_daemon_argv_is_isolated_and_carries_the_import_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`-I -S` drop PYTHONPATH and site: the daemon gets the launcher's path explicitly."""
    monkeypatch.setattr(sys, "path", ["/opt/cnilab", "", "/venv/site-packages"])
    argv = daemon_control.daemon_argv(30)
    assert argv[:4] == [sys.executable, "-I", "-S", "-c"]
    assert argv[5:] == ["daemon", "--idle-exit", "30"]
    assert "sys.path[:0] = ['/opt/cnilab', '/venv/site-packages']" in argv[4]
    assert argv[4].endswith("from lab.pycni.entry import main; main()")


def test_last_reserved_is_overwritten_to_its_new_length(tmp_path: Path) -> None:
    """Written in place (no truncation to zero): a shorter address leaves no tail behind."""
    import ipaddress

    with DiskStore(str(tmp_path), "net") as store:
        assert store.reserve(("c1", "eth0"), ipaddress.ip_address("10.0.0.200"), 0)
        assert store.reserve(("c2", "eth0"), ipaddress.ip_address("10.0.0.5"), 0)
        assert store.last_reserved(0) == ipaddress.ip_address("10.0.0.5")
    assert (tmp_path / "net" / "last_reserved_ip.0").read_text() == "10.0.0.5"

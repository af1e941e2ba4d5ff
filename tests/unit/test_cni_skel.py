"""skel.main run in-process with a fake environment, as libcni's skel_test does."""

import io
import json
import logging
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_interface
from typing import Any

import pytest

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import Interface, IPConfig, Result
from lab.cni.skel import CmdArgs, Environment, main
from lab.cni.version import SUPPORTED_VERSIONS

RESULT = Result(
    interfaces=[Interface("eth0", mac="aa:bb:cc:dd:ee:ff", sandbox="/var/run/netns/p", mtu=1500)],
    ips=[IPConfig(ip_interface("10.244.0.5/24"), ip_address("10.244.0.1"), interface=0)],
)

ENV = {
    "CNI_CONTAINERID": "c0ffee",
    "CNI_NETNS": "/var/run/netns/cnilab-web",
    "CNI_IFNAME": "eth0",
    "CNI_ARGS": "K8S_POD_NAME=web;IgnoreUnknown=1",
    "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
}
REQUIRED = {
    "ADD": ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
    "CHECK": ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
    "DEL": ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
    "GC": ["CNI_PATH"],
    "STATUS": ["CNI_PATH"],
}


@dataclass
class FakePlugin:
    """Records every call; raises `fail` if set."""

    result: Any = field(default_factory=lambda: RESULT)
    fail: Exception | None = None
    calls: list[tuple[str, CmdArgs]] = field(default_factory=list)

    def _record(self, name: str, args: CmdArgs) -> None:
        self.calls.append((name, args))
        if self.fail is not None:
            raise self.fail

    def add(self, args: CmdArgs) -> Result:
        self._record("add", args)
        return self.result

    def check(self, args: CmdArgs) -> None:
        self._record("check", args)

    def delete(self, args: CmdArgs) -> None:
        self._record("delete", args)

    def gc(self, args: CmdArgs) -> None:
        self._record("gc", args)

    def status(self, args: CmdArgs) -> None:
        self._record("status", args)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    plugin: Any

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    @property
    def error_code(self) -> int:
        assert self.code == 1
        return self.json["code"]


def conf(version: str = "1.1.0", **extra: Any) -> bytes:
    return json.dumps({"cniVersion": version, "name": "cnilab", "type": "fake", **extra}).encode()


def run(
    command: str | None,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    plugin: Any = None,
    **kwargs: Any,
) -> Run:
    environ = dict(ENV if env is None else env)
    if command is not None:
        environ["CNI_COMMAND"] = command
    plugin = FakePlugin() if plugin is None else plugin
    out, err = io.StringIO(), io.StringIO()
    fake = Environment(environ, io.BytesIO(conf() if stdin is None else stdin), out, err)
    code = main(plugin, env=fake, **kwargs)
    return Run(code, out.getvalue(), err.getvalue(), plugin)


@pytest.mark.parametrize(
    ("command", "method"),
    [("ADD", "add"), ("CHECK", "check"), ("DEL", "delete"), ("GC", "gc"), ("STATUS", "status")],
)
def test_each_command_calls_its_function(command: str, method: str) -> None:
    r = run(command)
    assert r.code == 0, r.stdout
    assert [name for name, _ in r.plugin.calls] == [method]
    if command != "ADD":
        assert r.stdout == ""


def test_cmd_args_carry_env_and_stdin() -> None:
    stdin = conf(bridge="cni0")
    r = run("ADD", stdin=stdin)
    args = r.plugin.calls[0][1]
    assert args == CmdArgs(
        command="ADD",
        container_id="c0ffee",
        netns="/var/run/netns/cnilab-web",
        ifname="eth0",
        args="K8S_POD_NAME=web;IgnoreUnknown=1",
        path=["/opt/cni/bin", "/usr/lib/cni"],
        stdin_data=stdin,
    )
    assert args.cni_args == {"K8S_POD_NAME": "web", "IgnoreUnknown": "1"}


@pytest.mark.parametrize(
    ("command", "var"), [(c, v) for c, names in REQUIRED.items() for v in names]
)
def test_missing_env_var_is_code_4(command: str, var: str) -> None:
    env = {k: v for k, v in ENV.items() if k != var}
    r = run(command, env=env)
    assert r.error_code == ErrorCode.INVALID_ENV
    assert var in r.json["msg"]
    assert r.plugin.calls == []


def test_empty_env_var_counts_as_missing() -> None:
    r = run("ADD", env={**ENV, "CNI_IFNAME": ""})
    assert r.error_code == ErrorCode.INVALID_ENV
    assert r.json["msg"] == "required env variables [CNI_IFNAME] missing"


@pytest.mark.parametrize(
    ("command", "absent"),
    [
        ("DEL", "CNI_NETNS"),
        ("GC", "CNI_CONTAINERID"),
        ("STATUS", "CNI_IFNAME"),
        ("ADD", "CNI_ARGS"),
    ],
)
def test_optional_env_vars(command: str, absent: str) -> None:
    r = run(command, env={k: v for k, v in ENV.items() if k != absent})
    assert r.code == 0, r.stdout


@pytest.mark.parametrize("container_id", ["-abc", "_abc", "a b", "a/b", "abc;rm"])
def test_bad_container_id(container_id: str) -> None:
    r = run("ADD", env={**ENV, "CNI_CONTAINERID": container_id})
    assert r.error_code == ErrorCode.INVALID_ENV
    assert "CNI_CONTAINERID" in r.json["msg"]


@pytest.mark.parametrize(
    ("ifname", "ok"),
    [
        ("e" * 15, True),
        ("e" * 16, False),
        ("eth\u00e901234567890", False),  # 15 characters, 16 bytes
        (".", False),
        ("..", False),
        ("eth/0", False),
        ("eth:0", False),
        ("eth 0", False),
        ("eth\t0", False),
        ("net1", True),
        ("caf\u00e9", True),
        ("\u00e0", False),  # UTF-8 C3 A0: the kernel's isspace() takes 0xA0 as a space
        ("eth\udc80", False),  # a byte that is not UTF-8, as os.environ keeps it
        ("eth\ud800", False),
    ],
)
def test_ifname_validation(ifname: str, ok: bool) -> None:
    r = run("ADD", env={**ENV, "CNI_IFNAME": ifname})
    if ok:
        assert r.code == 0, r.stdout
    else:
        assert r.error_code == ErrorCode.INVALID_ENV
        assert "CNI_IFNAME" in r.json["msg"]


def test_unknown_command() -> None:
    r = run("FROB")
    assert r.error_code == ErrorCode.INVALID_ENV
    assert r.json["msg"] == "unknown CNI_COMMAND: FROB"


def test_no_command_without_about_is_code_4() -> None:
    r = run(None)
    assert r.error_code == ErrorCode.INVALID_ENV
    assert "CNI_COMMAND" in r.json["msg"]


def test_no_command_with_about_prints_it_to_stderr() -> None:
    r = run(None, about="CNI plugin pycni v0.1.0")
    assert (r.code, r.stdout) == (0, "")
    assert r.stderr.startswith("CNI plugin pycni v0.1.0\n")
    assert "1.1.0" in r.stderr


@pytest.mark.parametrize("stdin", [b"{not json", b"", b"[]", b"\xff"])
def test_malformed_config_is_code_6(stdin: bytes) -> None:
    r = run("ADD", stdin=stdin)
    assert r.error_code == ErrorCode.DECODE_FAILURE
    assert r.plugin.calls == []


@pytest.mark.parametrize("name", [None, "", "bad name", "-x"])
def test_bad_network_name_is_code_7(name: str | None) -> None:
    d = {"cniVersion": "1.0.0", "type": "fake"}
    if name is not None:
        d["name"] = name
    r = run("ADD", stdin=json.dumps(d).encode())
    assert r.error_code == ErrorCode.INVALID_CONFIG


@pytest.mark.parametrize("version", ["0.2.0", "0.1.0", "2.0.0", ""])
def test_unsupported_version_is_code_1(version: str) -> None:
    r = run("ADD", stdin=conf(version))
    assert r.error_code == ErrorCode.INCOMPATIBLE_VERSION
    assert r.json["msg"] == "incompatible CNI versions"
    assert "plugin supports" in r.json["details"]
    assert r.plugin.calls == []


def test_version_the_plugin_does_not_support() -> None:
    r = run("ADD", stdin=conf("1.1.0"), supported=("0.4.0", "1.0.0"))
    assert r.error_code == ErrorCode.INCOMPATIBLE_VERSION
    assert r.json["details"] == 'config is "1.1.0", plugin supports ["0.4.0" "1.0.0"]'


@pytest.mark.parametrize(
    "stdin", [b"", b'{"cniVersion": "1.0.0"}', b"not even json"], ids=["empty", "json", "junk"]
)
def test_version_command(stdin: bytes) -> None:
    r = run("VERSION", stdin=stdin, env={})
    assert r.code == 0
    assert r.json == {"cniVersion": "1.1.0", "supportedVersions": list(SUPPORTED_VERSIONS)}
    assert r.plugin.calls == []


def test_version_command_reports_the_plugin_list() -> None:
    r = run("VERSION", env={}, supported=("1.0.0", "1.1.0"))
    assert r.json["supportedVersions"] == ["1.0.0", "1.1.0"]


@pytest.mark.parametrize(
    ("command", "version", "ok"),
    [
        ("GC", "1.0.0", False),
        ("GC", "0.4.0", False),
        ("GC", "1.1.0", True),
        ("STATUS", "1.0.0", False),
        ("STATUS", "1.1.0", True),
        ("CHECK", "0.3.1", False),
        ("CHECK", "0.4.0", True),
        ("CHECK", "1.0.0", True),
        ("DEL", "0.3.0", True),
    ],
)
def test_command_needs_a_recent_enough_version(command: str, version: str, ok: bool) -> None:
    r = run(command, stdin=conf(version))
    if ok:
        assert r.code == 0, r.stdout
    else:
        assert r.error_code == ErrorCode.INCOMPATIBLE_VERSION
        assert command in r.json["msg"]
        assert r.plugin.calls == []


def test_check_with_prev_result_of_another_version() -> None:
    prev = RESULT.to_dict("0.4.0")
    r = run("CHECK", stdin=conf("1.0.0", prevResult=prev))
    assert r.error_code == ErrorCode.INCOMPATIBLE_VERSION
    assert r.json["cniVersion"] == "1.0.0"
    ok = run("CHECK", stdin=conf("1.0.0", prevResult=RESULT.to_dict("1.0.0")))
    assert ok.code == 0, ok.stdout


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_add_result_is_converted_to_the_config_version(version: str) -> None:
    r = run("ADD", stdin=conf(version))
    assert r.code == 0
    assert r.json == RESULT.to_dict(version)
    assert ("version" in r.json["ips"][0]) is (version in ("0.3.0", "0.3.1", "0.4.0"))
    assert ("mtu" in r.json["interfaces"][0]) is (version == "1.1.0")


def test_add_answers_in_the_runtime_chosen_version() -> None:
    stdin = json.dumps(
        {"cniVersion": "1.0.0", "cniVersions": ["1.0.0", "1.1.0"], "name": "n", "type": "t"}
    ).encode()
    assert run("ADD", stdin=stdin).json["cniVersion"] == "1.0.0"


def test_cni_error_passes_through_in_the_config_version() -> None:
    plugin = FakePlugin(fail=CNIError(ErrorCode.TRY_AGAIN_LATER, "store busy", "lock held"))
    r = run("ADD", stdin=conf("0.4.0"), plugin=plugin)
    assert r.json == {
        "cniVersion": "0.4.0",
        "code": 11,
        "msg": "store busy",
        "details": "lock held",
    }


def test_unexpected_exception_is_999_and_stdout_holds_only_json(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = FakePlugin(fail=RuntimeError("boom"))
    with caplog.at_level(logging.ERROR, logger="cni.skel"):
        r = run("DEL", plugin=plugin)
    assert r.json == {"cniVersion": "1.1.0", "code": 999, "msg": "RuntimeError: boom"}
    assert "Traceback" not in r.stdout
    assert any(rec.exc_info and rec.name == "cni.skel" for rec in caplog.records)


def test_add_must_return_a_result() -> None:
    r = run("ADD", plugin=FakePlugin(result=None))
    assert r.error_code == ErrorCode.INTERNAL
    assert "NoneType" in r.json["msg"]


def test_bad_cni_args_reach_the_plugin_as_code_4() -> None:
    class ReadsArgs(FakePlugin):
        def add(self, args: CmdArgs) -> Result:
            args.cni_args  # noqa: B018
            return RESULT

    r = run("ADD", env={**ENV, "CNI_ARGS": "novalue"}, plugin=ReadsArgs())
    assert r.error_code == ErrorCode.INVALID_ENV


def test_missing_optional_functions_are_no_ops() -> None:
    class AddOnly:
        def add(self, args: CmdArgs) -> Result:
            return RESULT

    for command in ("CHECK", "DEL", "GC", "STATUS"):
        r = run(command, plugin=AddOnly())
        assert (r.code, r.stdout) == (0, "")


def test_print_in_a_plugin_goes_to_stderr() -> None:
    class Chatty(FakePlugin):
        def add(self, args: CmdArgs) -> Result:
            print("debug: creating veth")
            return RESULT

    r = run("ADD", plugin=Chatty())
    assert r.json == RESULT.to_dict("1.1.0")
    assert "debug: creating veth" in r.stderr

"""Network configuration lists, one plugin's config, and what the runtime feeds each plugin."""

import copy
import json
from typing import Any

import pytest

from lab.cni.config import (
    NAME_RE,
    NetworkConfigList,
    PluginConf,
    build_plugin_config,
    load_json,
    parse_cni_args,
)
from lab.cni.errors import CNIError, ErrorCode

CONFLIST: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "name": "cnilab",
    "plugins": [
        {"type": "pycni", "bridge": "cni0", "ipam": {"type": "pycni-ipam"}},
        {"type": "portmap", "capabilities": {"portMappings": True, "bandwidth": False}},
    ],
}


def conflist(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(CONFLIST)
    d.update(changes)
    return d


def code_of(fn: Any, *args: Any) -> int:
    with pytest.raises(CNIError) as exc:
        fn(*args)
    return exc.value.code


@pytest.mark.parametrize("name", ["cnilab", "a", "pod-net_1.v2", "0abc"])
def test_name_re_accepts(name: str) -> None:
    assert NAME_RE.match(name)


@pytest.mark.parametrize("name", ["", "-net", "_net", ".net", "a b", "a/b", "net:1"])
def test_name_re_rejects(name: str) -> None:
    assert not NAME_RE.match(name)


@pytest.mark.parametrize(
    "data",
    [b"{", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"", b"[" * 100_000 + b"]" * 100_000],
)
def test_load_json_errors_are_code_6(data: bytes) -> None:
    with pytest.raises(CNIError) as exc:
        load_json(data, "network configuration")
    assert exc.value.code == ErrorCode.DECODE_FAILURE
    assert exc.value.msg.startswith("failed to decode network configuration: ")


def test_conflist_loads() -> None:
    net = NetworkConfigList.from_bytes(json.dumps(CONFLIST).encode())
    assert net.name == "cnilab"
    assert net.cni_version == "1.0.0"
    assert [p["type"] for p in net.plugins] == ["pycni", "portmap"]
    assert (net.disable_check, net.disable_gc, net.cni_versions) == (False, False, [])
    assert net.raw == CONFLIST


def test_conflist_flags_and_versions() -> None:
    net = NetworkConfigList.from_dict(
        conflist(cniVersions=["1.0.0", "1.1.0"], disableCheck=True, disableGC="true")
    )
    assert net.cni_version == "1.1.0"
    assert net.cni_versions == ["1.0.0", "1.1.0"]
    assert net.disable_check and net.disable_gc


@pytest.mark.parametrize(
    ("d", "code"),
    [
        (conflist(name="-bad"), ErrorCode.INVALID_CONFIG),
        (conflist(name="has space"), ErrorCode.INVALID_CONFIG),
        (conflist(name=""), ErrorCode.INVALID_CONFIG),
        ({k: v for k, v in CONFLIST.items() if k != "name"}, ErrorCode.INVALID_CONFIG),
        ({k: v for k, v in CONFLIST.items() if k != "plugins"}, ErrorCode.INVALID_CONFIG),
        (conflist(plugins=[]), ErrorCode.INVALID_CONFIG),
        (conflist(plugins={"type": "pycni"}), ErrorCode.INVALID_CONFIG),
        (conflist(plugins=["pycni"]), ErrorCode.INVALID_CONFIG),
        (conflist(plugins=[{"bridge": "cni0"}]), ErrorCode.INVALID_CONFIG),
        (conflist(plugins=[{"type": ""}]), ErrorCode.INVALID_CONFIG),
        (conflist(plugins=[{"type": 7}]), ErrorCode.INVALID_CONFIG),
        (conflist(plugins=[{"type": "../../bin/sh"}]), ErrorCode.INVALID_CONFIG),
        (conflist(cniVersions="1.1.0"), ErrorCode.INVALID_CONFIG),
        (conflist(cniVersions=[1]), ErrorCode.INVALID_CONFIG),
        (conflist(disableCheck="maybe"), ErrorCode.INVALID_CONFIG),
        (conflist(cniVersion="0.2.0"), ErrorCode.INCOMPATIBLE_VERSION),
        (conflist(cniVersion="9.0.0"), ErrorCode.INCOMPATIBLE_VERSION),
    ],
)
def test_conflist_validation(d: dict[str, Any], code: int) -> None:
    assert code_of(NetworkConfigList.from_dict, d) == code


def test_conflist_messages_say_what_is_wrong() -> None:
    with pytest.raises(CNIError) as exc:
        NetworkConfigList.from_dict(conflist(plugins=[{"type": "pycni"}, {"bridge": "x"}]))
    assert "plugins[1].type" in exc.value.msg
    with pytest.raises(CNIError) as exc:
        NetworkConfigList.from_dict(conflist(name="a b"))
    assert "network name" in exc.value.msg


@pytest.mark.parametrize("data", [b"{bad", b"[]"])
def test_conflist_bad_json_is_code_6(data: bytes) -> None:
    assert code_of(NetworkConfigList.from_bytes, data) == ErrorCode.DECODE_FAILURE


def test_single_conf_is_wrapped() -> None:
    single = {"cniVersion": "0.4.0", "name": "legacy", "type": "bridge", "bridge": "br0"}
    net = NetworkConfigList.from_single_conf(single)
    assert (net.name, net.cni_version) == ("legacy", "0.4.0")
    assert net.plugins == [single]
    assert code_of(NetworkConfigList.from_single_conf, {"name": "x", "cniVersion": "1.0.0"}) == 7


def test_from_file_bytes_picks_by_extension() -> None:
    single = {"cniVersion": "1.0.0", "name": "legacy", "type": "bridge"}
    assert NetworkConfigList.from_file_bytes("10-a.conf", json.dumps(single).encode()).name == (
        "legacy"
    )
    data = json.dumps(CONFLIST).encode()
    assert NetworkConfigList.from_file_bytes("10-a.conflist", data).name == "cnilab"


RUNTIME = {
    "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
    "bandwidth": {"ingressRate": 1000},
    "ips": ["10.244.0.9/24"],
}


@pytest.mark.parametrize(
    ("plugin", "runtime", "expected"),
    [
        # only capabilities declared true, and only those the runtime has
        (CONFLIST["plugins"][1], RUNTIME, {"portMappings": RUNTIME["portMappings"]}),
        (
            {"type": "x", "capabilities": {"ips": True, "mac": True}},
            RUNTIME,
            {"ips": ["10.244.0.9/24"]},
        ),
        ({"type": "x", "capabilities": {"bandwidth": False}}, RUNTIME, None),
        ({"type": "x"}, RUNTIME, None),
        ({"type": "x", "capabilities": {"ips": True}}, None, None),
        ({"type": "x", "capabilities": {"ips": "yes"}}, RUNTIME, None),
    ],
)
def test_build_plugin_config_filters_capabilities(
    plugin: dict[str, Any], runtime: dict[str, Any] | None, expected: dict[str, Any] | None
) -> None:
    net = NetworkConfigList.from_dict(CONFLIST)
    conf = json.loads(build_plugin_config(plugin, net, "1.0.0", None, runtime))
    assert conf.get("runtimeConfig") == expected


def test_build_plugin_config_injects_name_version_prev_result() -> None:
    net = NetworkConfigList.from_dict(CONFLIST)
    plugin = {"type": "portmap", "name": "ignored", "cniVersion": "0.1.0"}
    original = copy.deepcopy(plugin)
    prev = {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.2/24"}]}

    conf = json.loads(build_plugin_config(plugin, net, "0.4.0", prev, None))
    assert conf == {"type": "portmap", "name": "cnilab", "cniVersion": "0.4.0", "prevResult": prev}
    assert plugin == original  # the list's own dict is left alone

    first = json.loads(build_plugin_config(plugin, net, "0.4.0", None, None))
    assert "prevResult" not in first


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("IgnoreUnknown=1", {"IgnoreUnknown": "1"}),
        (
            "K8S_POD_NAME=web;K8S_POD_NAMESPACE=default",
            {"K8S_POD_NAME": "web", "K8S_POD_NAMESPACE": "default"},
        ),
        ("A=B;", {"A": "B"}),
        ("A=", {"A": ""}),
        ("A=b=c", {"A": "b=c"}),
    ],
)
def test_parse_cni_args(text: str, expected: dict[str, str]) -> None:
    assert parse_cni_args(text) == expected


@pytest.mark.parametrize("text", ["junk", "A=B;junk", "=value"])
def test_parse_cni_args_errors(text: str) -> None:
    assert code_of(parse_cni_args, text) == ErrorCode.INVALID_ENV


PLUGIN = {
    "cniVersion": "1.0.0",
    "name": "cnilab",
    "type": "pycni",
    "bridge": "cni0",
    "ipam": {"type": "pycni-ipam", "subnet": "10.244.0.0/24"},
    "dns": {"nameservers": ["10.96.0.10"]},
    "capabilities": {"portMappings": True},
    "runtimeConfig": {"portMappings": []},
    "args": {"cni": {"ips": ["10.244.0.9"]}},
    "prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.244.0.9/24"}]},
}


def test_plugin_conf() -> None:
    conf = PluginConf.from_dict(PLUGIN)
    assert (conf.cni_version, conf.name, conf.type) == ("1.0.0", "cnilab", "pycni")
    assert conf.ipam == PLUGIN["ipam"]
    assert conf.dns.nameservers == ["10.96.0.10"]
    assert conf.prev_result is not None
    assert str(conf.prev_result.ips[0].address) == "10.244.0.9/24"
    assert conf.runtime_config == {"portMappings": []}
    assert conf.args == PLUGIN["args"]
    assert conf.capabilities == {"portMappings": True}
    assert conf.raw["bridge"] == "cni0"


def test_plugin_conf_minimal() -> None:
    conf = PluginConf.from_dict({"cniVersion": "0.3.1", "name": "n", "type": "t"})
    assert conf.prev_result is None
    assert conf.ipam == {} and conf.dns.is_empty()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"name": "bad name"}, ErrorCode.INVALID_CONFIG),
        ({"name": None}, ErrorCode.INVALID_CONFIG),
        ({"type": ""}, ErrorCode.INVALID_CONFIG),
        ({"type": None}, ErrorCode.INVALID_CONFIG),
        ({"ipam": "host-local"}, ErrorCode.INVALID_CONFIG),
        ({"runtimeConfig": []}, ErrorCode.INVALID_CONFIG),
        ({"cniVersion": "0.2.0"}, ErrorCode.INCOMPATIBLE_VERSION),
        (
            {"prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "nope"}]}},
            ErrorCode.DECODE_FAILURE,
        ),
    ],
)
def test_plugin_conf_errors(changes: dict[str, Any], code: int) -> None:
    d = {**PLUGIN, **changes}
    d = {k: v for k, v in d.items() if v is not None}
    assert code_of(PluginConf.from_dict, d) == code

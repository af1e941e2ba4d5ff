"""The one result model, read from and written to every supported version."""

import copy
import json
from dataclasses import replace
from ipaddress import ip_address, ip_interface, ip_network
from typing import Any

import pytest

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import (
    DNS,
    Interface,
    IPConfig,
    Result,
    Route,
    convert,
    prev_result,
)
from lab.cni.version import SUPPORTED_VERSIONS

FULL = Result(
    interfaces=[
        Interface("cni0", mac="aa:bb:cc:00:00:01"),
        Interface("veth1234", mac="aa:bb:cc:00:00:02"),
        Interface(
            "eth0",
            mac="aa:bb:cc:00:00:03",
            sandbox="/var/run/netns/cnilab-web",
            mtu=1450,
            socket_path="/run/vhost.sock",
            pci_id="0000:00:1f.6",
        ),
    ],
    ips=[
        IPConfig(ip_interface("10.244.0.5/24"), ip_address("10.244.0.1"), interface=2),
        IPConfig(ip_interface("fd00:244::5/64"), ip_address("fd00:244::1"), interface=2),
    ],
    routes=[
        Route(ip_network("0.0.0.0/0"), ip_address("10.244.0.1"), mtu=1400, advmss=1360,
              priority=100, table=0, scope=0),
        Route(ip_network("::/0")),
    ],
    dns=DNS(["10.96.0.10"], "cluster.local", ["svc.cluster.local"], ["ndots:5"]),
)  # fmt: skip

OLD = ("0.3.0", "0.3.1", "0.4.0")


def without_v11(r: Result) -> Result:
    """What survives a trip through a version before 1.1.0."""
    return replace(
        r,
        interfaces=[replace(i, mtu=None, socket_path="", pci_id="") for i in r.interfaces],
        routes=[Route(rt.dst, rt.gw) for rt in r.routes],
    )


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_to_dict_per_version(version: str) -> None:
    d = FULL.to_dict(version)
    assert d["cniVersion"] == version
    if version in OLD:
        assert [ip["version"] for ip in d["ips"]] == ["4", "6"]
    else:
        assert all("version" not in ip for ip in d["ips"])
    eth0, default = d["interfaces"][2], d["routes"][0]
    v11 = version == "1.1.0"
    for key in ("mtu", "socketPath", "pciID"):
        assert (key in eth0) is v11
    for key in ("mtu", "advmss", "priority", "table", "scope"):
        assert (key in default) is v11
    assert d["ips"][0]["address"] == "10.244.0.5/24"
    assert d["ips"][0]["gateway"] == "10.244.0.1"
    assert d["ips"][0]["interface"] == 2
    assert d["dns"] == {
        "nameservers": ["10.96.0.10"],
        "domain": "cluster.local",
        "search": ["svc.cluster.local"],
        "options": ["ndots:5"],
    }


def test_v11_fields_spelled_as_the_spec() -> None:
    d = FULL.to_dict("1.1.0")
    assert d["interfaces"][2] == {
        "name": "eth0",
        "mac": "aa:bb:cc:00:00:03",
        "sandbox": "/var/run/netns/cnilab-web",
        "mtu": 1450,
        "socketPath": "/run/vhost.sock",
        "pciID": "0000:00:1f.6",
    }
    assert d["routes"][0] == {
        "dst": "0.0.0.0/0",
        "gw": "10.244.0.1",
        "mtu": 1400,
        "advmss": 1360,
        "priority": 100,
        "table": 0,
        "scope": 0,
    }


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_round_trip(version: str) -> None:
    expected = FULL if version == "1.1.0" else without_v11(FULL)
    back = Result.from_dict(json.loads(FULL.to_json(version)))
    assert back == replace(expected, cni_version=version)


@pytest.mark.parametrize("source", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("target", SUPPORTED_VERSIONS)
def test_every_pair_converts(source: str, target: str) -> None:
    d = convert(FULL.to_dict(source), target)
    assert d["cniVersion"] == target
    assert [ip["address"] for ip in d["ips"]] == ["10.244.0.5/24", "fd00:244::5/64"]
    assert ("version" in d["ips"][0]) is (target in OLD)


def test_empty_optional_fields_are_omitted() -> None:
    r = Result(ips=[IPConfig(ip_interface("10.0.0.2/24"))])
    assert r.to_dict("1.0.0") == {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}
    assert r.to_dict("0.4.0") == {
        "cniVersion": "0.4.0",
        "ips": [{"version": "4", "address": "10.0.0.2/24"}],
    }
    assert Result().to_dict("1.1.0") == {"cniVersion": "1.1.0"}
    assert Interface("eth0").to_dict(True) == {"name": "eth0"}


def test_to_json_is_stable() -> None:
    assert FULL.to_json("1.0.0") == FULL.to_json("1.0.0")
    assert json.loads(FULL.to_json("1.0.0")) == FULL.to_dict("1.0.0")


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "2.0.0", "1.1", ""])
def test_to_dict_unsupported_version(version: str) -> None:
    with pytest.raises(CNIError) as exc:
        FULL.to_dict(version)
    assert exc.value.code == ErrorCode.INCOMPATIBLE_VERSION


def test_legacy_020_result() -> None:
    r = Result.from_dict(
        {
            "cniVersion": "0.2.0",
            "ip4": {
                "ip": "10.1.2.3/24",
                "gateway": "10.1.2.1",
                "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.2.1"}],
            },
            "ip6": {"ip": "fd00::3/64"},
            "dns": {"nameservers": ["10.1.2.1"]},
        }
    )
    assert r.ips == [
        IPConfig(ip_interface("10.1.2.3/24"), ip_address("10.1.2.1")),
        IPConfig(ip_interface("fd00::3/64")),
    ]
    assert r.routes == [Route(ip_network("0.0.0.0/0"), ip_address("10.1.2.1"))]
    assert r.dns.nameservers == ["10.1.2.1"]
    assert r.to_dict("1.0.0")["ips"][1] == {"address": "fd00::3/64"}


def test_legacy_without_version_is_010() -> None:
    r = Result.from_dict({"ip4": {"ip": "10.1.2.3/24"}})
    assert r.cni_version == "0.1.0"
    assert str(r.ips[0].address) == "10.1.2.3/24"


def test_route_dst_with_host_bits_is_normalised() -> None:
    r = Result.from_dict({"cniVersion": "1.0.0", "routes": [{"dst": "10.1.2.3/8"}]})
    assert r.routes[0].dst == ip_network("10.0.0.0/8")


def base(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(FULL.to_dict("0.4.0"))
    d.update(changes)
    return d


def with_ip(**fields: Any) -> dict[str, Any]:
    d = base()
    d["ips"][0].update(fields)
    return d


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (with_ip(address="10.0.0.300/24"), "ips[0].address"),
        (with_ip(address="10.0.0.3"), "ips[0].address"),
        (with_ip(address=42), "ips[0].address"),
        (with_ip(gateway="10.0.0"), "ips[0].gateway"),
        (with_ip(interface="2"), "ips[0].interface"),
        (with_ip(interface=-1), "ips[0].interface"),
        (with_ip(interface=True), "ips[0].interface"),
        (with_ip(version="6"), "ips[0].version"),
        (base(ips={"address": "10.0.0.2/24"}), "ips"),
        (base(ips=["10.0.0.2/24"]), "ips[0]"),
        (base(interfaces=[{"mac": "aa:bb:cc:dd:ee:ff"}]), "interfaces[0].name"),
        (base(routes=[{"dst": "default"}]), "routes[0].dst"),
        (base(routes=[{"gw": "10.0.0.1"}]), "routes[0].dst"),
        (base(routes=[{"dst": "0.0.0.0/0", "gw": "x"}]), "routes[0].gw"),
        (base(routes=[{"dst": "0.0.0.0/0", "mtu": "1400"}]), "routes[0].mtu"),
        (base(dns={"nameservers": "8.8.8.8"}), "dns.nameservers"),
        (base(dns={"search": [1]}), "dns.search[0]"),
        (base(cniVersion=1), "cniVersion"),
        ({"ips": []}, "cniVersion"),
        ([], "top level"),
    ],
)
def test_from_dict_rejects_bad_fields(data: Any, where: str) -> None:
    with pytest.raises(CNIError) as exc:
        Result.from_dict(data)
    assert exc.value.code == ErrorCode.DECODE_FAILURE
    assert where in exc.value.msg


def test_from_dict_unknown_version() -> None:
    with pytest.raises(CNIError) as exc:
        Result.from_dict({"cniVersion": "2.0.0"})
    assert exc.value.code == ErrorCode.INCOMPATIBLE_VERSION


def test_prev_result() -> None:
    assert prev_result({"cniVersion": "1.0.0", "name": "n", "type": "t"}) is None
    conf = {"cniVersion": "1.0.0", "prevResult": FULL.to_dict("1.0.0")}
    assert prev_result(conf) == replace(without_v11(FULL), cni_version="1.0.0")


def test_prev_result_without_version_uses_the_config_version() -> None:
    pr = {"ips": [{"version": "4", "address": "10.0.0.2/24"}]}
    got = prev_result({"cniVersion": "0.4.0", "prevResult": pr})
    assert got is not None
    assert got.cni_version == "0.4.0"


def test_prev_result_errors_name_the_field() -> None:
    conf = {"cniVersion": "1.0.0", "prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "x"}]}}
    with pytest.raises(CNIError) as exc:
        prev_result(conf)
    assert exc.value.code == ErrorCode.DECODE_FAILURE
    assert "prevResult.ips[0].address" in exc.value.msg

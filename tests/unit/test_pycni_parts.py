"""The pure parts of pycni: names, the daemon's wire format, chaining, its config."""

from __future__ import annotations

import ipaddress

import pytest

from lab.cni.errors import CNIError
from lab.cni.result import DNS, Interface, IPConfig, Result
from lab.pycni.chain import extend_prev_result
from lab.pycni.conf import parse_bridge_conf
from lab.pycni.daemon_protocol import (
    TAKEN,
    WireError,
    decode_answer,
    decode_request,
    encode_answer,
    encode_request,
)
from lab.pycni.naming import attachment_tag, host_veth_name


def test_host_veth_name_is_stable_short_and_per_attachment() -> None:
    a = host_veth_name("abc", "eth0")
    assert a == host_veth_name("abc", "eth0")
    assert len(a) == 15 and a.startswith("veth")
    assert a != host_veth_name("abc", "eth1")


def test_attachment_tag_fits_an_nft_comment() -> None:
    assert attachment_tag("net", "cid", "eth0") == "net cid eth0"
    long_tag = attachment_tag("net", "c" * 200, "eth0")
    assert len(long_tag) <= 128 and long_tag.startswith("net #")


def test_wire_round_trip_keeps_only_cni_variables() -> None:
    env = {b"CNI_COMMAND": b"ADD", b"CNI_ARGS": b"A=1;B=2", b"HOME": b"/root", b"PYCNI_X": b"0"}
    got_env, stdin = decode_request(encode_request(env, b'{"x": "\\u00e9"}\x00'))
    assert got_env == {"CNI_COMMAND": "ADD", "CNI_ARGS": "A=1;B=2", "PYCNI_X": "0"}
    assert stdin == b'{"x": "\\u00e9"}\x00'
    assert decode_request(encode_request({}, b"x")) == ({}, b"x")
    assert decode_request(encode_request({b"CNI_A": b""}, b"")) == ({"CNI_A": ""}, b"")
    assert decode_answer(TAKEN + encode_answer(7, "é out", "err")) == (7, "é out".encode(), b"err")


def test_wire_decodes_bytes_as_os_environ_would() -> None:
    """A value that is not UTF-8 reaches the plugin as os.environ has it, to be refused there."""
    got_env, _ = decode_request(encode_request({b"CNI_IFNAME": b"eth\x80"}, b"{}"))
    assert got_env == {"CNI_IFNAME": "eth\udc80"}


@pytest.mark.parametrize("bad", [b"GET / HTTP/1.1", b"CNI1\nHOME=x\x00\x00", b"CNI1\nCNI_A=1"])
def test_wire_rejects_garbage(bad: bytes) -> None:
    with pytest.raises(WireError):
        decode_request(bad)
    with pytest.raises(WireError):
        decode_answer(b"nonsense")


def test_extend_prev_result_shifts_interface_indexes() -> None:
    prev = Result(interfaces=[Interface(name="lo")], dns=DNS(nameservers=["1.1.1.1"]))
    mine = Result(
        interfaces=[Interface(name="cni0"), Interface(name="veth"), Interface(name="eth0")],
        ips=[IPConfig(address=ipaddress.ip_interface("10.0.0.2/24"), interface=2)],
    )
    out = extend_prev_result(prev, mine)
    assert [i.name for i in out.interfaces] == ["lo", "cni0", "veth", "eth0"]
    assert out.ips[0].interface == 3
    assert out.dns.nameservers == ["1.1.1.1"]


def base(**over: object) -> dict:
    conf = {"cniVersion": "1.1.0", "name": "n", "type": "pycni", "ipam": {"type": "pycni-ipam"}}
    conf.update(over)
    return conf


def test_default_gateway_implies_gateway() -> None:
    conf = parse_bridge_conf(base(isDefaultGateway=True))
    assert conf.is_gateway and conf.bridge == "cni0"


@pytest.mark.parametrize(
    "over",
    [
        {"bridge": "x" * 16},
        {"bridge": "a/b"},
        {"mtu": 67},
        {"mtu": True},
        {"ipMasq": "yes"},
        {"logFile": "relative.log"},
        {"demoDelay": 60},
        {"ipam": {}},
        {"name": "n" * 65},
        {"bridge": "\u00e9" * 8},  # 8 characters, 16 bytes: too long for the kernel
        {"bridge": "br\u00e0"},  # its UTF-8 holds 0xA0, a space to the kernel
        {"ipam": {"type": "pycni"}},  # would exec itself as its own IPAM, forever
    ],
)
def test_bad_plugin_options_are_code_7(over: dict) -> None:
    with pytest.raises(CNIError) as e:
        parse_bridge_conf(base(**over))
    assert e.value.code == 7

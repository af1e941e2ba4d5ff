"""Version parsing and negotiation, including spec 1.1's "cniVersions"."""

from typing import Any

import pytest

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.version import (
    CURRENT,
    SUPPORTED_VERSIONS,
    at_least,
    conf_version,
    negotiate,
    parse_version,
    version_info,
)


def test_supported_versions() -> None:
    assert SUPPORTED_VERSIONS == ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
    assert CURRENT == "1.1.0"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("1.1.0", (1, 1, 0)), ("0.3.1", (0, 3, 1)), ("10.20.30", (10, 20, 30)), ("", (0, 1, 0))],
)
def test_parse_version(text: str, parsed: tuple[int, int, int]) -> None:
    assert parse_version(text) == parsed


@pytest.mark.parametrize("text", ["1.0", "1", "a.b.c", "1.0.0.0", "1.0.0-rc1", " 1.0.0", "1..0"])
def test_parse_version_garbage(text: str) -> None:
    with pytest.raises(CNIError) as exc:
        parse_version(text)
    assert exc.value.code == ErrorCode.DECODE_FAILURE


@pytest.mark.parametrize(
    ("v", "minimum", "expected"),
    [
        ("0.4.0", "0.4.0", True),
        ("1.0.0", "0.4.0", True),
        ("0.3.1", "0.4.0", False),
        ("1.0.0", "1.1.0", False),
        ("0.10.0", "0.4.0", True),  # numeric, not lexical
    ],
)
def test_at_least(v: str, minimum: str, expected: bool) -> None:
    assert at_least(v, minimum) is expected


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({"cniVersion": "1.0.0"}, "1.0.0"),
        ({"cniVersion": "0.3.0"}, "0.3.0"),
        ({"cniVersions": ["0.4.0", "1.1.0", "1.0.0"]}, "1.1.0"),
        ({"cniVersion": "0.4.0", "cniVersions": ["1.0.0", "2.0.0"]}, "1.0.0"),
        # none of cniVersions is known: what an older runtime would use anyway
        ({"cniVersion": "1.0.0", "cniVersions": ["9.0.0"]}, "1.0.0"),
        ({"cniVersion": "1.0.0", "cniVersions": []}, "1.0.0"),
    ],
)
def test_negotiate(conf: dict[str, Any], expected: str) -> None:
    assert negotiate(conf) == expected


@pytest.mark.parametrize(
    ("conf", "details"),
    [
        ({"cniVersion": "0.2.0"}, 'config is "0.2.0"'),
        ({"cniVersion": "2.0.0"}, 'config is "2.0.0"'),
        ({}, 'config is "0.1.0"'),
        ({"cniVersions": ["9.9.9"]}, 'config is ["9.9.9"]'),
    ],
)
def test_negotiate_incompatible(conf: dict[str, Any], details: str) -> None:
    with pytest.raises(CNIError) as exc:
        negotiate(conf)
    err = exc.value
    assert err.code == ErrorCode.INCOMPATIBLE_VERSION
    assert err.msg == "incompatible CNI versions"
    assert err.details.startswith(details)
    assert 'plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]' in err.details


def test_negotiate_with_fewer_supported() -> None:
    assert negotiate({"cniVersions": ["0.4.0", "1.1.0"]}, ("0.4.0", "1.0.0")) == "0.4.0"
    with pytest.raises(CNIError) as exc:
        negotiate({"cniVersion": "1.1.0"}, ("1.0.0",))
    assert exc.value.details == 'config is "1.1.0", plugin supports ["1.0.0"]'


@pytest.mark.parametrize(
    "conf", [{"cniVersion": 1}, {"cniVersions": "1.0.0"}, {"cniVersions": [1]}]
)
def test_negotiate_bad_types(conf: dict[str, Any]) -> None:
    with pytest.raises(CNIError) as exc:
        negotiate(conf)
    assert exc.value.code == ErrorCode.DECODE_FAILURE


def test_conf_version_prefers_the_runtime_choice() -> None:
    conf = {"cniVersion": "1.0.0", "cniVersions": ["1.0.0", "1.1.0"]}
    assert conf_version(conf) == "1.0.0"
    assert conf_version({"cniVersions": ["1.0.0", "1.1.0"]}) == "1.1.0"


def test_version_info() -> None:
    assert version_info(SUPPORTED_VERSIONS) == {
        "cniVersion": "1.1.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }
    assert version_info(("1.0.0",))["supportedVersions"] == ["1.0.0"]

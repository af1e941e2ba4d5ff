"""The error object every plugin prints on failure (SPEC.md "Error")."""

import json

import pytest

from lab.cni.errors import CNIError, ErrorCode


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (ErrorCode.INCOMPATIBLE_VERSION, 1),
        (ErrorCode.UNSUPPORTED_FIELD, 2),
        (ErrorCode.UNKNOWN_CONTAINER, 3),
        (ErrorCode.INVALID_ENV, 4),
        (ErrorCode.IO_FAILURE, 5),
        (ErrorCode.DECODE_FAILURE, 6),
        (ErrorCode.INVALID_CONFIG, 7),
        (ErrorCode.TRY_AGAIN_LATER, 11),
        (ErrorCode.NOT_AVAILABLE, 50),
        (ErrorCode.LIMITED_CONNECTIVITY, 51),
        (ErrorCode.INTERNAL, 999),
    ],
)
def test_well_known_codes(code: ErrorCode, value: int) -> None:
    assert code == value


@pytest.mark.parametrize(
    ("err", "expected", "text"),
    [
        (
            CNIError(ErrorCode.INVALID_CONFIG, "bad ipam", "range 10.0.0.0/33"),
            {"cniVersion": "1.1.0", "code": 7, "msg": "bad ipam", "details": "range 10.0.0.0/33"},
            "bad ipam: range 10.0.0.0/33",
        ),
        (
            CNIError(11, "store locked"),
            {"cniVersion": "1.1.0", "code": 11, "msg": "store locked"},
            "store locked",
        ),
    ],
)
def test_error_json(err: CNIError, expected: dict, text: str) -> None:
    assert err.to_dict("1.1.0") == expected
    assert str(err) == text
    assert json.loads(json.dumps(err.to_dict("1.1.0"))) == expected


def test_code_is_a_plain_int_in_json() -> None:
    out = json.dumps(CNIError(ErrorCode.INTERNAL, "x").to_dict("1.0.0"))
    assert '"code": 999' in out
    assert '"cniVersion": "1.0.0"' in out


def test_from_dict_round_trip() -> None:
    err = CNIError.from_dict({"cniVersion": "1.0.0", "code": 3, "msg": "gone", "details": "c1"})
    assert (err.code, err.msg, err.details) == (3, "gone", "c1")
    assert CNIError.from_dict(err.to_dict("1.0.0")).to_dict("1.0.0") == err.to_dict("1.0.0")


@pytest.mark.parametrize("bad", [{"msg": "no code"}, {"code": "7", "msg": "x"}, {"code": True}])
def test_from_dict_rejects_non_errors(bad: dict) -> None:
    with pytest.raises(ValueError):
        CNIError.from_dict(bad)

"""Reading what a student's plugin answered without ever crashing the check: each
missing key, short list, wrong type or non-JSON output is a FAIL that names it."""

from __future__ import annotations

import json
from typing import Any

from lab.cni.invoke import Execution

MISSING = object()


class CheckFailed(AssertionError):
    """Raised by `expect`: the student-facing reason a step failed."""


def expect(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _path_text(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def field(result: object, *path: str | int, what: str = "result") -> Any:
    """`result["ips"][0]["address"]`, or CheckFailed("your result has no ips[0].address")."""
    value = result
    for i, key in enumerate(path):
        here = _path_text(path[: i + 1])
        if isinstance(key, int):
            if not isinstance(value, list):
                raise CheckFailed(f"your {what}'s {_path_text(path[:i]) or what} is not a list")
            expect(0 <= key < len(value), f"your {what} has no {here}")
            value = value[key]
        else:
            found = value.get(key, MISSING) if isinstance(value, dict) else MISSING
            expect(found is not MISSING, f"your {what} has no {here}")
            value = found
    return value


def answer_of(ex: Execution, what: str = "ADD") -> dict[str, Any]:
    """A call's JSON object on stdout, or CheckFailed saying how the output was wrong."""
    out = ex.stdout.decode(errors="replace").strip()
    expect(ex.returncode == 0, f"{what} exited {ex.returncode}: {out[-300:] or 'with no output'}")
    expect(out, f"{what} printed nothing: a result must be JSON on stdout")
    try:
        obj = json.loads(out)
    except (ValueError, RecursionError):
        raise CheckFailed(f"{what}: stdout must hold only JSON, got {out[:120]!r}") from None
    expect(isinstance(obj, dict), f"{what}: stdout must be a JSON object, got {out[:60]}")
    return obj  # type: ignore[no-any-return]

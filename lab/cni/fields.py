"""Typed reads of decoded JSON that name the offending field when the type is wrong.

Results and configs come from other programs and from students' hands; an error that
says `ips[0].address must be a string` teaches, a KeyError does not.
"""

from typing import Any

from lab.cni.errors import CNIError


class Fields:
    """One JSON object under a dotted path such as `ips[0]`, read with type checks."""

    def __init__(self, data: Any, where: str, what: str, code: int) -> None:
        self.where = where
        self.what = what
        self.code = code
        if not isinstance(data, dict):
            raise self.fail("", f"must be an object, not {_kind(data)}")
        self.data: dict[str, Any] = data

    def path(self, key: str | int) -> str:
        """The dotted path of `key`, for messages."""
        if isinstance(key, int):
            return f"{self.where}[{key}]"
        if key == "":
            return self.where or "top level"
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str | int, problem: str) -> CNIError:
        return CNIError(self.code, f"{self.what}: {self.path(key)} {problem}")

    def has(self, key: str) -> bool:
        """True when `key` is present and not JSON null."""
        return self.data.get(key) is not None

    def text(self, key: str, required: bool = False) -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return ""
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_kind(value)}")
        if required and not value:
            raise self.fail(key, "must not be empty")
        return value

    def integer(self, key: str, minimum: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"must be an integer, not {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}, not {value}")
        return value

    def flag(self, key: str) -> bool:
        """A boolean; like libcni, the strings "true"/"false" are accepted too."""
        value = self.data.get(key)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(key, f"must be a boolean, not {_kind(value)}")

    def items(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, not {_kind(value)}")
        return value

    def texts(self, key: str) -> list[str]:
        values = self.items(key)
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise self.fail(f"{key}[{i}]", f"must be a string, not {_kind(v)}")
        return list(values)

    def obj(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be an object, not {_kind(value)}")
        return value

    def child(self, key: str) -> "Fields":
        """The nested object `key` (an empty one when absent)."""
        return Fields(self.obj(key), self.path(key), self.what, self.code)

    def children(self, key: str) -> list["Fields"]:
        """Each object of the list `key`."""
        base = self.path(key)
        return [
            Fields(v, f"{base}[{i}]", self.what, self.code) for i, v in enumerate(self.items(key))
        ]


def _kind(value: Any) -> str:
    """JSON's name for a decoded value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__

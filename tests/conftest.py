"""Fixtures shared by every tier. Kernel tests create namespaces named `pytest-*` and
remove them afterwards, even when the test fails."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root to create network namespaces")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


class Namespaces:
    """Creates uniquely named network namespaces and removes all of them at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.prefix = f"pytest-{uuid.uuid4().hex[:6]}"

    def new(self, role: str = "ns") -> str:
        from pyroute2 import netns

        name = f"{self.prefix}-{role}-{len(self.names)}"
        netns.create(name)
        self.names.append(name)
        return name

    def remove(self, name: str) -> None:
        from pyroute2 import netns

        if name in netns.listnetns():
            netns.remove(name)

    def cleanup(self) -> None:
        for name in reversed(self.names):
            self.remove(name)


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    ns = Namespaces()
    try:
        yield ns
    finally:
        ns.cleanup()

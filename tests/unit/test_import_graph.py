"""The shape of the code, read from its imports: the path of data stays one-way.

Packages of `lab` form no cycle; only the CLI imports the app (to serve it), and
nothing but the CLI's own modules import the CLI; the app holds no kernel code of its
own (no netlink, scapy or subprocess).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL_MODULES = ("pyroute2", "scapy", "subprocess")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _package(module: str) -> str:
    """lab.cni.invoke -> lab.cni; app.api -> app."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "lab" and len(parts) > 1 else parts[0]


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for top in ("lab", "app"):
        for path in (ROOT / top).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            source = _package(module.removesuffix(".__init__"))
            for imported in _imports(path):
                target = _package(imported)
                if target.split(".")[0] in ("lab", "app") and target not in (source, "lab"):
                    graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return []


def test_the_packages_form_no_cycle() -> None:
    assert find_cycle(package_graph()) == []


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_only_the_cli_reaches_up_to_the_app_and_nothing_reaches_into_the_cli() -> None:
    graph = package_graph()
    assert {p for p, targets in graph.items() if "app" in targets} <= {"lab.cli"}
    assert {p for p, targets in graph.items() if "lab.cli" in targets} == set()


def test_the_app_has_no_kernel_code_of_its_own() -> None:
    for path in (ROOT / "app").rglob("*.py"):
        kernel = {m for m in _imports(path) if m.split(".")[0] in KERNEL_MODULES}
        assert not kernel, f"{path.relative_to(ROOT)} imports {sorted(kernel)}"

"""The page's import map: CodeMirror's ES modules import each other by bare name
(`@codemirror/state`), which a browser resolves only through an import map. It is
built once from the packages npm installed under static/node_modules (each one's
package.json), so it follows the lock file and nothing is copied by hand."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, url_for
from markupsafe import Markup

ROOTS = ("codemirror", "@codemirror/lang-python", "@codemirror/lang-json")
PREFIXES = ("@codemirror/legacy-modes",)  # imported by path: .../mode/toml.js


def _entry(meta: dict[str, Any]) -> str | None:
    exports = meta.get("exports")
    if isinstance(exports, dict):
        dot = exports.get(".", exports)
        if isinstance(dot, str):
            return dot
        if isinstance(dot, dict) and isinstance(dot.get("import"), str):
            return dot["import"]
    return meta.get("module") or meta.get("main")


@cache
def imports(modules: Path) -> dict[str, str]:
    """Bare name -> path under node_modules, for ROOTS and everything they import."""
    found: dict[str, str] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in found or not (modules / name / "package.json").is_file():
            continue
        meta = json.loads((modules / name / "package.json").read_text())
        entry = _entry(meta)
        if entry:
            found[name] = f"{name}/{entry.removeprefix('./')}"
        todo += list(meta.get("dependencies", {}))
    return found


def import_map(modules: Path) -> Markup:
    base = url_for("static", filename="node_modules/")
    mapping = {name: base + path for name, path in imports(modules).items()}
    mapping.update({f"{p}/": f"{base}{p}/" for p in PREFIXES})
    text = json.dumps({"imports": mapping}, indent=1).replace("</", "<\\/")
    return Markup(f'<script type="importmap">{text}</script>')


def init_app(app: Flask) -> None:
    modules = Path(app.static_folder or "") / "node_modules"
    app.jinja_env.globals["import_map"] = lambda: import_map(modules)

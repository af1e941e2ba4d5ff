"""An Exec that runs nothing: it records each call and answers from a script.

libcni tests its runtime against a fake Exec; so do we, without root, namespaces or
plugin binaries. Replies are keyed by (plugin type, CNI_COMMAND).
"""

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab.cni.errors import CNIError
from lab.cni.invoke import Execution, plugin_not_found

# A scripted answer: a JSON object printed on stdout, an error the plugin reports (exit 1),
# or a function of (stdin config, env) returning either.
Answer = dict[str, Any] | CNIError | None
Reply = Answer | Callable[[dict[str, Any], Mapping[str, str]], Answer]


@dataclass
class _Script:
    reply: Reply
    raises: CNIError | None  # the exec itself fails (timeout, not executable)


class FakeExec:
    """Records every run in `calls`; unscripted calls succeed and print nothing."""

    def __init__(self, plugins: Sequence[str] | None = None) -> None:
        self.plugins = None if plugins is None else set(plugins)  # None: every plugin exists
        self.calls: list[Execution] = []
        self._script: dict[tuple[str, str], _Script] = {}

    def script(
        self, plugin: str, command: str, reply: Reply = None, *, raises: CNIError | None = None
    ) -> None:
        self._script[plugin, command] = _Script(reply, raises)

    def find(self, plugin: str, paths: Sequence[str]) -> str:
        if self.plugins is not None and plugin not in self.plugins:
            raise plugin_not_found(plugin, paths)
        return os.path.join(next((p for p in paths if p), "/fake"), plugin)

    def run(
        self, argv: list[str], stdin: bytes, env: Mapping[str, str], timeout: float = 60.0
    ) -> Execution:
        ex = Execution(list(argv), dict(env), stdin, b"", b"", 0, 0.0)
        entry = self._script.get((ex.plugin, env.get("CNI_COMMAND", "")))
        if entry is not None and entry.raises is not None:
            raise entry.raises
        reply = entry.reply if entry is not None else None
        if callable(reply):
            reply = reply(json.loads(stdin) if stdin.strip() else {}, env)
        if isinstance(reply, CNIError):
            ex.stdout, ex.returncode = json.dumps(reply.to_dict("1.0.0")).encode(), 1
        elif reply is not None:
            ex.stdout = json.dumps(reply).encode()
        self.calls.append(ex)
        return ex

    def sent(self, index: int) -> dict[str, Any]:
        """The config call `index` got on stdin."""
        return json.loads(self.calls[index].stdin)

    def commands(self) -> list[tuple[str, str]]:
        """(plugin, command) of every call, in order."""
        return [(ex.plugin, ex.env.get("CNI_COMMAND", "")) for ex in self.calls]

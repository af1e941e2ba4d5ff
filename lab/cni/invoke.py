"""Run a plugin executable the way libcni's invoke package does (find, exec, decode).

Used by the runtime for every plugin of a chain and by plugins to delegate to IPAM.
Each run is kept whole in an `Execution` so the call journal can show exactly what a
plugin saw and said.
"""

import errno
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import Result

# "text file busy": the binary is still being written (an install racing a call).
_BUSY_RETRIES = 5
_BUSY_WAIT = 0.2  # seconds, doubled per retry
_DETAILS_MAX = 2000  # characters of a failed plugin's output kept in an error


@dataclass
class Execution:
    """One complete plugin run: what went in, what came out, how long it took."""

    argv: list[str]
    env: dict[str, str]
    stdin: bytes
    stdout: bytes
    stderr: bytes
    returncode: int
    seconds: float

    @property
    def plugin(self) -> str:
        return os.path.basename(self.argv[-1]) if self.argv else "?"


def find_in_path(plugin: str, paths: Sequence[str]) -> str:
    """The first executable regular file named `plugin` in `paths` (CNI_PATH order)."""
    if not plugin or "/" in plugin or plugin in (".", ".."):
        raise CNIError(ErrorCode.INVALID_CONFIG, f'invalid plugin name "{plugin}"')
    for directory in paths:
        if not directory:
            continue
        candidate = os.path.join(directory, plugin)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    listed = " ".join(paths)
    raise CNIError(ErrorCode.INVALID_CONFIG, f'failed to find plugin "{plugin}" in path [{listed}]')


def _nsenter() -> str:
    found = shutil.which("nsenter") or "/usr/bin/nsenter"
    if not os.access(found, os.X_OK):
        raise CNIError(
            ErrorCode.INTERNAL, "nsenter (util-linux) is needed to run plugins on a node"
        )
    return found


def raw_exec(
    path: str, stdin: bytes, env: dict[str, str], timeout: float = 60.0, netns: str | None = None
) -> Execution:
    """Run `path` with exactly `env` and `stdin`; no shell, stdout and stderr kept apart.

    With `netns`, the plugin runs in that network namespace (as a runtime on that node
    would run it), through nsenter: no thread of ours ever changes namespace.
    """
    argv = [path] if netns is None else [_nsenter(), f"--net={netns}", "--", path]
    name = os.path.basename(path)
    start = time.monotonic()
    for attempt in range(_BUSY_RETRIES + 1):
        try:
            proc = subprocess.run(
                argv, input=stdin, capture_output=True, env=env, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise CNIError(
                ErrorCode.INTERNAL,
                f"plugin {name} timed out after {timeout:g}s",
                _trim(e.stderr or b""),
            ) from e
        except OSError as e:
            if e.errno == errno.ETXTBSY and attempt < _BUSY_RETRIES:
                time.sleep(_BUSY_WAIT * 2**attempt)
                continue
            raise CNIError(ErrorCode.INTERNAL, f"failed to execute plugin {name}: {e}") from e
        return Execution(
            argv=argv,
            env=dict(env),
            stdin=stdin,
            stdout=proc.stdout,
            stderr=proc.stderr,
            returncode=proc.returncode,
            seconds=time.monotonic() - start,
        )
    raise AssertionError("unreachable")  # the loop returns or raises


def _trim(data: bytes) -> str:
    text = data.decode(errors="replace").strip()
    return text if len(text) <= _DETAILS_MAX else text[:_DETAILS_MAX] + "..."


def _error_from(data: bytes) -> CNIError | None:
    """The spec's error object if `data` holds one."""
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    try:
        return CNIError.from_dict(obj)
    except ValueError:
        return None


def decode_execution(ex: Execution) -> dict[str, Any] | None:
    """The plugin's JSON answer, or its error raised as CNIError (from stdout, else stderr)."""
    if ex.returncode != 0:
        err = _error_from(ex.stdout) or _error_from(ex.stderr)
        if err is not None:
            raise err
        how = f"exit {ex.returncode}"
        if ex.returncode < 0:
            how = f"killed by signal {-ex.returncode}"
        raise CNIError(
            ErrorCode.INTERNAL,
            f"plugin {ex.plugin} failed ({how})",
            _trim(ex.stderr) or _trim(ex.stdout),
        )
    if not ex.stdout.strip():
        return None
    try:
        obj = json.loads(ex.stdout)
    except ValueError as e:
        raise CNIError(
            ErrorCode.DECODE_FAILURE,
            f"plugin {ex.plugin} printed invalid JSON: {e}",
            _trim(ex.stdout),
        ) from e
    if not isinstance(obj, dict):
        raise CNIError(
            ErrorCode.DECODE_FAILURE,
            f"plugin {ex.plugin} printed invalid JSON: expected an object",
            _trim(ex.stdout),
        )
    return obj


def exec_plugin(
    plugin_type: str, netconf: bytes, env: Mapping[str, str], timeout: float = 60.0
) -> dict[str, Any] | None:
    """Find `plugin_type` in env["CNI_PATH"], run it with `netconf` on stdin, decode its answer."""
    path = find_in_path(plugin_type, env.get("CNI_PATH", "").split(os.pathsep))
    return decode_execution(raw_exec(path, netconf, dict(env), timeout))


def _delegate_env(command: str, environ: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's environment with CNI_COMMAND replaced (libcni DelegateArgs)."""
    env = dict(os.environ if environ is None else environ)
    env["CNI_COMMAND"] = command
    return env


def delegate_add(
    plugin_type: str,
    netconf: bytes,
    environ: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Result:
    """ADD through a delegated plugin (usually IPAM) and read its result, whatever its version."""
    out = exec_plugin(plugin_type, netconf, _delegate_env("ADD", environ), timeout)
    if out is None:
        raise CNIError(ErrorCode.DECODE_FAILURE, f"plugin {plugin_type} printed no result")
    return Result.from_dict(out)


def delegate_check(
    plugin_type: str,
    netconf: bytes,
    environ: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> None:
    """CHECK through a delegated plugin; its error, if any, is raised as is."""
    exec_plugin(plugin_type, netconf, _delegate_env("CHECK", environ), timeout)


def delegate_del(
    plugin_type: str,
    netconf: bytes,
    environ: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> None:
    """DEL through a delegated plugin; its error, if any, is raised as is."""
    exec_plugin(plugin_type, netconf, _delegate_env("DEL", environ), timeout)

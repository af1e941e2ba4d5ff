"""How a plugin is called, shaped like libcni's pkg/invoke: one door for every caller.

- `cni_env` is the one builder of a call's CNI_* environment; `delegate_env` derives a
  delegated call's (plugin -> IPAM) from the caller's, as libcni's DelegateArgs does.
- `Exec` is the seam: `RawExec` really runs the executable, `JournalingExec` wraps any
  Exec and hands each run to a sink (the call journal), and `lab.cni.fake_exec.FakeExec`
  answers from a script, so the runtime is tested without root.

Each run is kept whole in an `Execution` so the journal shows what a plugin saw and said.
"""

import errno
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import Result

# Where Debian's containernetworking-plugins installs the reference plugins.
REFERENCE_BIN = Path("/usr/lib/cni")

DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # PATH when the caller has none
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


# -- the environment -----------------------------------------------------------------------
def cni_env(
    command: str,
    path: Sequence[str],
    *,
    container_id: str = "",
    netns: str = "",
    ifname: str = "",
    args: str = "",
) -> dict[str, str]:
    """The environment of one call (libcni's Args.AsEnv): CNI_* plus PATH, nothing inherited.

    Empty values are left out: the spec reads a missing variable as empty, and VERSION,
    GC and STATUS calls carry no attachment.
    """
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_ARGS": args,
        "CNI_PATH": os.pathsep.join(p for p in path if p),
        "PATH": os.environ.get("PATH", DEFAULT_PATH),
    }
    return {k: v for k, v in env.items() if v}


def delegate_env(command: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment (the process's by default) with CNI_COMMAND replaced."""
    env = dict(os.environ if environ is None else environ)
    env["CNI_COMMAND"] = command
    return env


# -- the Exec seam -------------------------------------------------------------------------
class Exec(Protocol):
    """What libcni's Exec does: find a plugin in CNI_PATH, run it once."""

    def find(self, plugin: str, paths: Sequence[str]) -> str: ...

    def run(
        self, argv: list[str], stdin: bytes, env: Mapping[str, str], timeout: float
    ) -> Execution: ...


def plugin_not_found(plugin: str, paths: Sequence[str]) -> CNIError:
    return CNIError(
        ErrorCode.INVALID_CONFIG, f'failed to find plugin "{plugin}" in path [{" ".join(paths)}]'
    )


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
    raise plugin_not_found(plugin, paths)


def plugin_argv(path: str, netns: str | None = None) -> list[str]:
    """The argv that runs `path`, inside the network namespace `netns` when given.

    Through nsenter, as a runtime on that node would run it: no thread of ours ever
    changes namespace.
    """
    if netns is None:
        return [path]
    nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
    if not os.access(nsenter, os.X_OK):
        raise CNIError(
            ErrorCode.INTERNAL, "nsenter (util-linux) is needed to run plugins on a node"
        )
    return [nsenter, f"--net={netns}", "--", path]


class RawExec:
    """Really run the executable (libcni's RawExec): no shell, stdout and stderr kept apart."""

    def find(self, plugin: str, paths: Sequence[str]) -> str:
        return find_in_path(plugin, paths)

    def run(
        self, argv: list[str], stdin: bytes, env: Mapping[str, str], timeout: float = 60.0
    ) -> Execution:
        """Run `argv` with exactly `env` and `stdin`; a busy binary is retried, not failed."""
        name = os.path.basename(argv[-1])
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
                argv=list(argv),
                env=dict(env),
                stdin=stdin,
                stdout=proc.stdout,
                stderr=proc.stderr,
                returncode=proc.returncode,
                seconds=time.monotonic() - start,
            )
        raise AssertionError("unreachable")  # the loop returns or raises


class JournalingExec:
    """Any Exec, with every run handed to `sink`, failed ones included.

    The one place call records are made; the sink (the runtime's journal) is injected
    so this package never imports the runtime.
    """

    def __init__(self, inner: Exec, sink: Callable[[Execution], None]) -> None:
        self.inner = inner
        self.sink = sink

    def find(self, plugin: str, paths: Sequence[str]) -> str:
        return self.inner.find(plugin, paths)

    def run(
        self, argv: list[str], stdin: bytes, env: Mapping[str, str], timeout: float = 60.0
    ) -> Execution:
        ex = self.inner.run(argv, stdin, env, timeout)
        self.sink(ex)
        return ex


# -- decoding ------------------------------------------------------------------------------
def _trim(data: bytes) -> str:
    text = data.decode(errors="replace").strip()
    return text if len(text) <= _DETAILS_MAX else text[:_DETAILS_MAX] + "..."


def _error_from(data: bytes) -> CNIError | None:
    """The spec's error object if `data` holds one."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json goes
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
    except (ValueError, RecursionError) as e:
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


# -- what a plugin calls to delegate -------------------------------------------------------
_RAW = RawExec()


def exec_plugin(
    plugin_type: str,
    netconf: bytes,
    env: Mapping[str, str],
    timeout: float = 60.0,
    runner: Exec = _RAW,
) -> dict[str, Any] | None:
    """Find `plugin_type` in env["CNI_PATH"], run it with `netconf` on stdin, decode its answer."""
    path = runner.find(plugin_type, env.get("CNI_PATH", "").split(os.pathsep))
    return decode_execution(runner.run([path], netconf, env, timeout))


def delegate_add(
    plugin_type: str,
    netconf: bytes,
    environ: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Result:
    """ADD through a delegated plugin (usually IPAM) and read its result, whatever its version."""
    out = exec_plugin(plugin_type, netconf, delegate_env("ADD", environ), timeout)
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
    exec_plugin(plugin_type, netconf, delegate_env("CHECK", environ), timeout)


def delegate_del(
    plugin_type: str,
    netconf: bytes,
    environ: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> None:
    """DEL through a delegated plugin; its error, if any, is raised as is."""
    exec_plugin(plugin_type, netconf, delegate_env("DEL", environ), timeout)

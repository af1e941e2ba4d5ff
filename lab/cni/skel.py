"""The plugin skeleton: the only code that reads CNI_* variables and stdin (libcni pkg/skel).

`main` checks the environment against one declarative table, decodes the config,
negotiates the version, calls the plugin's function and is the single door through which
results and error JSON reach stdout. It takes an injectable `Environment`, so tests run it
in-process, and returns the exit code instead of exiting.
"""

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, TextIO

from lab.cni.config import NAME_RE, load_json, parse_cni_args
from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import Result
from lab.cni.version import CURRENT, SUPPORTED_VERSIONS, at_least, conf_version, version_info

IFNAMSIZ = 16  # the kernel's limit includes the trailing NUL

# Commands -> the PluginFuncs method that serves them.
_METHODS = {"ADD": "add", "CHECK": "check", "DEL": "delete", "GC": "gc", "STATUS": "status"}
COMMANDS = (*_METHODS, "VERSION")
# The oldest config version each command exists in.
_MIN_VERSION = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}


@dataclass
class CmdArgs:
    """Everything the runtime passed: the CNI_* variables and the raw stdin config."""

    command: str
    container_id: str
    netns: str
    ifname: str
    args: str
    path: list[str]
    stdin_data: bytes

    @property
    def cni_args(self) -> dict[str, str]:
        """CNI_ARGS as a dict (code 4 when malformed)."""
        return parse_cni_args(self.args)


@dataclass
class Environment:
    """Where a plugin run reads and writes; the process's own streams by default."""

    environ: Mapping[str, str]
    stdin: BinaryIO
    stdout: TextIO
    stderr: TextIO

    @classmethod
    def from_process(cls) -> "Environment":
        return cls(os.environ, sys.stdin.buffer, sys.stdout, sys.stderr)


class PluginFuncs(Protocol):
    """What a plugin implements; any method missing except `add` is treated as a no-op."""

    def add(self, args: CmdArgs) -> Result: ...

    def check(self, args: CmdArgs) -> None: ...

    def delete(self, args: CmdArgs) -> None: ...

    def gc(self, args: CmdArgs) -> None: ...

    def status(self, args: CmdArgs) -> None: ...


def _container_id_problem(value: str) -> str | None:
    if not NAME_RE.match(value):
        return "invalid characters in containerID"
    return None


# Bytes the kernel's dev_valid_name() refuses: '/', ':' and its isspace(), which counts
# 0xA0 (Latin-1 no-break space), so "à" (UTF-8 C3 A0) is no valid interface name.
_IFNAME_BAD_BYTES = frozenset(b"/: \t\n\v\f\r\xa0")


def ifname_problem(value: str) -> str | None:
    """SPEC.md and the kernel: not empty, not . or .., under 16 bytes, no /, : or whitespace.

    The bytes are what the kernel sees: os.environ keeps undecodable ones as surrogate
    escapes, and a name that is not UTF-8 could not be written back in a JSON result.
    """
    try:
        raw = value.encode()
    except UnicodeEncodeError:
        return "interface name is not valid UTF-8"
    if not raw:
        return "interface name is empty"
    if len(raw) >= IFNAMSIZ:
        return f"interface name is too long (max {IFNAMSIZ - 1} bytes)"
    if value in (".", ".."):
        return "interface name is . or .."
    if any(b in _IFNAME_BAD_BYTES for b in raw) or any(c.isspace() for c in value):
        return "interface name contains / or : or whitespace characters"
    return None


@dataclass(frozen=True)
class EnvVar:
    """One CNI_* variable: the CmdArgs field it fills, who needs it, how it is checked."""

    name: str
    attr: str
    required_for: frozenset[str]
    problem: Callable[[str], str | None] | None = None


_CONTAINER = frozenset({"ADD", "CHECK", "DEL"})
ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("CNI_COMMAND", "command", frozenset(COMMANDS)),
    EnvVar("CNI_CONTAINERID", "container_id", _CONTAINER, _container_id_problem),
    EnvVar("CNI_NETNS", "netns", frozenset({"ADD", "CHECK"})),
    EnvVar("CNI_IFNAME", "ifname", _CONTAINER, ifname_problem),
    EnvVar("CNI_ARGS", "args", frozenset()),
    EnvVar("CNI_PATH", "path", frozenset(_METHODS)),
)


def _read_env(command: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Values of ENV_VARS for `command`; every missing or invalid one is code 4."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for var in ENV_VARS:
        value = environ.get(var.name, "")
        if not value and command in var.required_for:
            missing.append(var.name)
        values[var.attr] = value
    if missing:
        raise CNIError(
            ErrorCode.INVALID_ENV, f"required env variables [{','.join(missing)}] missing"
        )
    if command == "VERSION":  # reads nothing but CNI_COMMAND, so stray values cannot fail it
        return values
    for var in ENV_VARS:
        value = values[var.attr]
        if var.problem is None or not value:
            continue
        problem = var.problem(value)
        if problem:
            raise CNIError(ErrorCode.INVALID_ENV, f"{var.name}: {problem}", f'got "{value}"')
    return values


class _Dispatcher:
    """One plugin run; remembers the negotiated version so errors are written in it."""

    def __init__(self, funcs: PluginFuncs, supported: Sequence[str], about: str, env: Environment):
        self.funcs = funcs
        self.supported = tuple(supported)
        self.about = about
        self.env = env
        self.version = ""

    def run(self) -> int:
        try:
            self._run()
        except CNIError as e:
            self._emit(e.to_dict(self.version or CURRENT))
            return 1
        except Exception as e:
            import logging  # only on this path: it is not free on the plugin's start-up

            logging.getLogger("cni.skel").exception("unexpected error in CNI plugin")
            err = CNIError(ErrorCode.INTERNAL, f"{type(e).__name__}: {e}")
            self._emit(err.to_dict(self.version or CURRENT))
            return 1
        return 0

    def _run(self) -> None:
        command = self.env.environ.get("CNI_COMMAND", "")
        if not command and self.about:
            versions = ", ".join(self.supported)
            self.env.stderr.write(f"{self.about}\nCNI protocol versions supported: {versions}\n")
            return
        if not command:
            raise CNIError(ErrorCode.INVALID_ENV, "required env variables [CNI_COMMAND] missing")
        if command not in COMMANDS:
            raise CNIError(ErrorCode.INVALID_ENV, f"unknown CNI_COMMAND: {command}")
        values = _read_env(command, self.env.environ)
        if command == "VERSION":
            self._drain_stdin()
            self._emit(version_info(self.supported))
            return
        args = CmdArgs(
            command=command,
            container_id=values["container_id"],
            netns=values["netns"],
            ifname=values["ifname"],
            args=values["args"],
            path=[p for p in values["path"].split(os.pathsep) if p],
            stdin_data=self._read_stdin(),
        )
        conf = load_json(args.stdin_data, "network configuration")
        self._check_conf(command, conf)
        self._call(command, args)

    def _check_conf(self, command: str, conf: dict[str, Any]) -> None:
        """Name (code 7), then the version the config speaks and this command needs (code 1)."""
        name = conf.get("name")
        if not name or not isinstance(name, str):
            raise CNIError(ErrorCode.INVALID_CONFIG, "missing network name")
        if not NAME_RE.match(name):
            raise CNIError(ErrorCode.INVALID_CONFIG, "invalid characters found in network name")
        self.version = conf_version(conf, self.supported)
        minimum = _MIN_VERSION.get(command)
        if minimum and not at_least(self.version, minimum):
            raise CNIError(
                ErrorCode.INCOMPATIBLE_VERSION,
                f'config version "{self.version}" does not allow {command}',
                f"{command} requires {minimum} or later",
            )
        prev = conf.get("prevResult")
        prev_version = prev.get("cniVersion") if isinstance(prev, dict) else None
        if command == "CHECK" and prev_version is not None and prev_version != self.version:
            raise CNIError(
                ErrorCode.INCOMPATIBLE_VERSION,
                "prevResult version does not match the config version",
                f'config is "{self.version}", prevResult is "{prev_version}"',
            )

    def _call(self, command: str, args: CmdArgs) -> None:
        method = getattr(self.funcs, _METHODS[command], None)
        if method is None:
            if command == "ADD":
                raise CNIError(ErrorCode.INTERNAL, "plugin does not implement ADD")
            return
        # A stray print() in a plugin would corrupt the JSON on stdout: send it to stderr.
        real_stdout, sys.stdout = sys.stdout, self.env.stderr
        try:
            result = method(args)
        finally:
            sys.stdout = real_stdout
        if command != "ADD":
            return
        if not isinstance(result, Result):
            raise CNIError(
                ErrorCode.INTERNAL, f"ADD returned {type(result).__name__}, not a Result"
            )
        self._write(result.to_json(self.version))

    def _read_stdin(self) -> bytes:
        try:
            return self.env.stdin.read()
        except OSError as e:
            raise CNIError(ErrorCode.IO_FAILURE, f"error reading from stdin: {e}") from e

    def _drain_stdin(self) -> None:
        """VERSION ignores its stdin, but drains a pipe so the runtime's write never fails."""
        stdin = self.env.stdin
        try:
            if not stdin.isatty():
                stdin.read()
        except (OSError, ValueError):
            pass

    def _emit(self, obj: dict[str, Any]) -> None:
        self._write(json.dumps(obj, indent=2))

    def _write(self, text: str) -> None:
        self.env.stdout.write(text + "\n")
        self.env.stdout.flush()


def main(
    funcs: PluginFuncs,
    supported: Sequence[str] = SUPPORTED_VERSIONS,
    about: str = "",
    env: Environment | None = None,
) -> int:
    """Run one plugin call and return its exit code (0, or 1 with error JSON on stdout)."""
    return _Dispatcher(funcs, supported, about, env or Environment.from_process()).run()

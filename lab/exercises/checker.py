"""What a check can do, and how its results are recorded.

A check is `def check(c: Checker) -> None` in the exercise's check.py. It runs the
student's file for real — as a CNI plugin executed by the lab's runtime, as kubelet
would — and asserts on kernel state, pings, traces and protocol output. Each
`with c.step("..."):` is one assertion the student sees; the first failing one
stops the check and shows its message and the hint it points to.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.cluster.plan import Plan
from lab.cni.errors import CNIError
from lab.cni.invoke import Execution, JournalingExec, RawExec, cni_env, plugin_argv
from lab.exercises.catalog import Exercise
from lab.kernel.netns import create_netns, delete_netns, list_netns, set_loopback_up
from lab.runtime.journal import Journal
from lab.runtime.pods import Pod, PodError, Runtime
from lab.runtime.student import StudentPluginError, student_bin_dir


class CheckFailed(AssertionError):
    """Raised by `expect`: the student-facing reason a step failed."""


@dataclass
class Assertion:
    name: str
    passed: bool | None = None  # None: not run (an earlier step failed)
    message: str = ""
    hint: int | None = None  # 1-based index into the exercise's hints


@dataclass
class Report:
    exercise: int
    title: str
    file: str
    passed: bool
    assertions: list[Assertion] = field(default_factory=list)
    hint: str = ""  # the hint the first failure points to
    hint_number: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Stop(Exception):
    pass


class Checker:
    def __init__(self, exercise: Exercise, plan: Plan, file: Path) -> None:
        self.exercise = exercise
        self.plan = plan
        self.file = file
        self.runtime = Runtime(plan)
        self.assertions: list[Assertion] = []
        self.prefix = f"ex{exercise.number:02d}"
        self._namespaces: list[str] = []
        self._bin_dirs: dict[str, Path] = {}

    # -- assertions ------------------------------------------------------------------
    @contextmanager
    def step(self, name: str, hint: int | None = None) -> Iterator[None]:
        result = Assertion(name, hint=hint)
        self.assertions.append(result)
        try:
            yield
        except CheckFailed as e:
            result.passed, result.message = False, str(e)
            raise _Stop from e
        except (PodError, CNIError, StudentPluginError, OSError, ValueError) as e:
            result.passed, result.message = False, str(e)
            raise _Stop from e
        result.passed = True

    def expect(self, condition: object, message: str) -> None:
        if not condition:
            raise CheckFailed(message)

    # -- the student's plugin ------------------------------------------------------------
    def pod_name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    def add_pod(self, suffix: str, node: str = "node1", **kw: Any) -> Pod:
        """A pod attached by the student's plugin, through the lab's runtime."""
        return self.runtime.add(self.pod_name(suffix), node, plugin_file=str(self.file), **kw)

    def empty_netns(self, suffix: str) -> str:
        """A bare pod namespace (lo up) for calling a plugin by hand."""
        name = f"{self.plan.prefix}-{self.prefix}-{suffix}"
        delete_netns(name)
        create_netns(name)
        set_loopback_up(f"/run/netns/{name}")
        self._namespaces.append(name)
        return name

    def call(
        self,
        command: str,
        conf: dict[str, Any] | bytes | None,
        *,
        container_id: str = "",
        netns: str = "",
        ifname: str = "eth0",
        node: str = "node1",
        plugin: Path | None = None,
        binary: str = "",
        extra_env: dict[str, str] | None = None,
    ) -> Execution:
        """Exec a plugin by hand in a node, as the seeds do; journaled like the runtime's.

        By default the student's file; `binary` names a plugin of the lab's bin dir instead.
        """
        the_node = self.plan.node(node)
        bin_dir = self._bin_dir(str(plugin or self.file))
        path = f"{self.plan.bin_dir}/{binary}" if binary else str(bin_dir / "pycni")
        env = cni_env(
            command,
            [str(bin_dir), self.plan.bin_dir],
            container_id=container_id,
            netns=f"/run/netns/{netns}" if netns else "",
            ifname=ifname if command != "VERSION" else "",
        )
        env.update(extra_env or {})
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf or {}).encode()
        runner = JournalingExec(RawExec(), Journal(self.plan.journal).sink(node, "by hand"))
        return runner.run(plugin_argv(path, the_node.netns_path), stdin, env, timeout=30)

    def _bin_dir(self, file: str) -> Path:
        """Written once per check: rewriting the wrapper while concurrent calls exec it
        makes them fail with ETXTBSY (a forked child still holds the file open)."""
        if file not in self._bin_dirs:
            self._bin_dirs[file] = student_bin_dir(self.plan, file)
        return self._bin_dirs[file]

    def node_conf(self, node: str = "node1", **over: Any) -> dict[str, Any]:
        """The node's pycni config as the runtime would send it (name and version set)."""
        conf = json.loads(Path(self.plan.node(node).conf_dir, "10-pycni.conflist").read_text())
        plugin = dict(conf["plugins"][0])
        plugin.update(name=conf["name"], cniVersion=conf["cniVersion"])
        plugin.pop("capabilities", None)
        plugin.update(over)
        return plugin

    # -- looking at the kernel -------------------------------------------------------------
    def sh(self, netns: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{netns}", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pings(self, netns: str, address: str) -> str | None:
        """ping's output when a reply came, else None."""
        out = self.sh(netns, "ping", "-c1", "-W2", address)
        return out.stdout if out.returncode == 0 else None

    # -- housekeeping --------------------------------------------------------------------
    def clear_previous(self) -> None:
        """Remove the pods and namespaces an earlier run of this check left for the graph."""
        for pod in self.runtime.list():
            if pod.name.startswith(self.prefix + "-"):
                try:
                    self.runtime.delete(pod.name)
                except PodError:  # a student's DEL may fail: remove it the hard way
                    delete_netns(pod.netns)
                    Path(self.plan.pods_dir, f"{pod.name}.json").unlink(missing_ok=True)
        for ns in list_netns():
            if ns.startswith(f"{self.plan.prefix}-{self.prefix}-"):
                delete_netns(ns)


def load_check(exercise: Exercise) -> Callable[[Checker], None]:
    spec = importlib.util.spec_from_file_location(
        f"cnilab_check_{exercise.number:02d}", exercise.check_file
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check  # type: ignore[no-any-return]


def run_check(exercise: Exercise, plan: Plan, file: Path) -> Report:
    start = time.monotonic()
    checker = Checker(exercise, plan, file.resolve())
    report = Report(exercise.number, exercise.title, str(file), passed=False)
    if not file.is_file():
        report.assertions = [Assertion("your file exists", False, f"{file} does not exist")]
        return report
    checker.clear_previous()
    try:
        load_check(exercise)(checker)
        report.passed = True
    except _Stop:
        pass
    report.assertions = checker.assertions
    failed = next((a for a in report.assertions if a.passed is False), None)
    if failed is not None and failed.hint:
        hints = exercise.hints
        if 1 <= failed.hint <= len(hints):
            report.hint_number, report.hint = failed.hint, hints[failed.hint - 1]
    report.seconds = round(time.monotonic() - start, 2)
    return report

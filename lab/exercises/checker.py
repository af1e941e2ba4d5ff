"""What a check can do, and how its results are recorded.

A check is `def check(c: Checker) -> None` in the exercise's check.py. It runs the
student's file for real — as a CNI plugin executed by the lab's runtime, as kubelet
would — and asserts on kernel state, pings, traces and protocol output. Each
`with c.step("...", hint=N):` is one assertion the student sees; the first failing
one stops the check. A student's crash or malformed output fails the step with the
exception and the line of their file, never with a traceback of the checker.

Whatever a check makes (pods, namespaces, links on the nodes, throwaway labs, temp
folders) is removed when it ends, pass or fail, except pods made with `keep=True`.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.cluster import build
from lab.cluster.plan import BARE_PIECES, Plan, parse_bare
from lab.cni.errors import CNIError
from lab.cni.invoke import Execution, JournalingExec, RawExec, cni_env, plugin_argv
from lab.exercises import answers
from lab.exercises.answers import CheckFailed
from lab.exercises.catalog import Exercise, get_exercise
from lab.exercises.cleanup import NodeLinks, remove_pod
from lab.exercises.failures import crash_since, name_the_plugin
from lab.exercises.student_call import FunctionRun, run_function
from lab.exercises.workspace import Workspace
from lab.kernel.netns import create_netns, delete_netns, list_netns, set_loopback_up
from lab.runtime.journal import Journal
from lab.runtime.pods import Pod, PodError, Runtime
from lab.runtime.student import TYPE, StudentPluginError, plugin_label, student_bin_dir

Progress = Callable[["Assertion"], None]


@dataclass
class Assertion:
    name: str
    passed: bool | None = None  # None: not run yet (or an earlier step failed)
    message: str = ""
    hint: int | None = None  # 1-based number of the exercise's hint about it


@dataclass
class Report:
    exercise: int
    slug: str
    title: str
    file: str
    passed: bool
    assertions: list[Assertion] = field(default_factory=list)
    hint_number: int | None = None  # the hint of the failed assertion; its text only if asked
    hint_title: str = ""
    own_files: list[str] = field(default_factory=list)  # the student's files the check ran
    reference_files: list[str] = field(default_factory=list)  # earlier steps' solutions it ran
    kept: list[str] = field(default_factory=list)  # pods (and node/link) left on purpose
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Stop(Exception):
    pass


class Checker:
    def __init__(
        self,
        exercise: Exercise,
        plan: Plan,
        file: Path,
        workspace: Workspace | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.exercise = exercise
        self.plan = plan
        self.file = file
        self.workspace = workspace
        self.runtime = Runtime(plan)
        self.assertions: list[Assertion] = []
        self.prefix = f"ex{exercise.number:02d}"
        self.own_files: list[str] = []
        self.reference_files: list[str] = []
        self._note_file(file)
        self._progress = progress or (lambda _: None)
        self._namespaces: list[str] = []
        self._bin_dirs: dict[str, Path] = {}
        self._pods: list[tuple[Runtime, str, bool]] = []
        self._labels: dict[str, str] = {TYPE: plugin_label(file)}
        self._runs: list[str] = [str(file)]  # files whose tracebacks are the student's to read
        self._journals: list[Path] = [Path(plan.journal)]
        self._scratch: list[Plan] = []
        self._tmp: Path | None = None
        self._node_links = NodeLinks(plan)
        self.kept_links: list[str] = []

    # -- assertions ------------------------------------------------------------------
    @contextmanager
    def step(self, name: str, hint: int | None = None) -> Iterator[None]:
        result = Assertion(name, hint=hint)
        self.assertions.append(result)
        self._progress(result)
        marks = [(j, j.stat().st_size if j.exists() else 0) for j in self._journals]
        try:
            yield
        except CheckFailed as e:
            self._fail(result, str(e), marks)
        except (PodError, CNIError, StudentPluginError, OSError) as e:
            self._fail(result, name_the_plugin(str(e), self._labels), marks)
        except KeyError as e:
            self._fail(result, f"a value is missing from your plugin's answer: no key {e}", marks)
        except IndexError as e:
            self._fail(result, f"your plugin's answer has fewer entries than expected ({e})", marks)
        except json.JSONDecodeError as e:
            self._fail(result, f"your plugin's output is not valid JSON ({e})", marks)
        except (TypeError, AttributeError) as e:
            self._fail(result, f"your plugin's answer has a value of the wrong type ({e})", marks)
        except ValueError as e:
            self._fail(result, name_the_plugin(str(e), self._labels), marks)
        except subprocess.TimeoutExpired as e:
            self._fail(result, f"{e.cmd[-1] if e.cmd else 'a command'} timed out", marks)
        result.passed = True
        self._progress(result)

    def _fail(self, result: Assertion, message: str, marks: list[tuple[Path, int]]) -> None:
        """Record the failure, with the student's own crash when one happened in this step."""
        for journal, offset in marks:
            crash = crash_since(journal, offset, self._runs)
            if crash is not None:
                told = crash.describe(plugin_label(crash.file))
                message = f"{message}\n{told}" if told not in message else message
                break
        result.passed, result.message = False, message
        self._progress(result)
        raise _Stop

    def expect(self, condition: object, message: str) -> None:
        answers.expect(condition, message)

    def result_field(self, result: object, *path: str | int, what: str = "result") -> Any:
        """`result["ips"][0]["address"]`, or a FAIL saying "your result has no ips[0].address"."""
        return answers.field(result, *path, what=what)

    def result_of(self, ex: Execution, what: str = "ADD") -> dict[str, Any]:
        """A call's JSON answer, or a FAIL that says how the output was wrong."""
        return answers.answer_of(ex, what)

    # -- the files the check runs ----------------------------------------------------
    def _note_file(self, path: Path) -> None:
        mine = "(yours)" in plugin_label(path)
        (self.own_files if mine else self.reference_files).append(str(path))

    def earlier(self, slug: str) -> Path:
        """The student's own file for an earlier step if they have one, else its solution."""
        ex = get_exercise(slug)
        path = ex.solution
        if self.workspace is not None:
            with suppress(OSError):
                if self.workspace.read(ex) is not None:  # refuses symlinks and huge files
                    path = self.workspace.file_for(ex)
        if str(path) not in self.own_files + self.reference_files:
            self._note_file(path)
            self._runs.append(str(path))
        return path

    def _use(self, plugin: Path | None) -> str:
        file = str(plugin or self.file)
        self._labels[TYPE] = plugin_label(file)
        if file not in self._runs:
            self._runs.append(file)
        return file

    # -- pods and calls ----------------------------------------------------------------
    def pod_name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    def add_pod(
        self,
        suffix: str,
        node: str = "node1",
        *,
        plugin: Path | None = None,
        lab: Plan | None = None,
        keep: bool = False,
        **kw: Any,
    ) -> Pod:
        """A pod attached by the student's plugin (or `plugin`), through the runtime of
        the main lab or of `lab`. It is removed when the check ends unless `keep`."""
        runtime = self.runtime if lab is None else Runtime(lab)
        name = self.pod_name(suffix)
        self._pods.append((runtime, name, keep))
        return runtime.add(name, node, plugin_file=self._use(plugin), **kw)

    def empty_netns(self, suffix: str, lab: Plan | None = None) -> str:
        """A bare pod namespace (lo up) for calling a plugin by hand."""
        name = f"{(lab or self.plan).prefix}-{self.prefix}-{suffix}"
        delete_netns(name)
        create_netns(name)
        self._namespaces.append(name)
        set_loopback_up(f"/run/netns/{name}")
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
        lab: Plan | None = None,
    ) -> Execution:
        """Exec a plugin by hand in a node, as the seeds do; journaled like the runtime's.

        By default the student's file; `binary` names a plugin of the lab's bin dir instead.
        """
        plan = lab or self.plan
        the_node = plan.node(node)
        bin_dir = self._bin_dir(self._use(plugin))
        path = f"{plan.bin_dir}/{binary}" if binary else str(bin_dir / TYPE)
        env = cni_env(
            command,
            [str(bin_dir), plan.bin_dir],
            container_id=container_id,
            netns=f"/run/netns/{netns}" if netns else "",
            ifname=ifname if command != "VERSION" else "",
        )
        env.update(extra_env or {})
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf or {}).encode()
        runner = JournalingExec(RawExec(), Journal(plan.journal).sink(node, "by hand"))
        return runner.run(plugin_argv(path, the_node.netns_path), stdin, env, timeout=30)

    def _bin_dir(self, file: str) -> Path:
        """Written once per check: rewriting the wrapper while concurrent calls exec it
        makes them fail with ETXTBSY (a forked child still holds the file open)."""
        if file not in self._bin_dirs:
            self._bin_dirs[file] = student_bin_dir(self.plan, file)
        return self._bin_dirs[file]

    def node_conf(
        self, node: str = "node1", lab: Plan | None = None, **over: Any
    ) -> dict[str, Any]:
        """The node's pycni config as the runtime would send it (name and version set)."""
        folder = (lab or self.plan).node(node).conf_dir
        conf = json.loads(Path(folder, "10-pycni.conflist").read_text())
        plugin = dict(conf["plugins"][0])
        plugin.update(name=conf["name"], cniVersion=conf["cniVersion"])
        plugin.pop("capabilities", None)
        plugin.update(over)
        return plugin

    # -- labs and folders of its own -------------------------------------------------------
    @contextmanager
    def scratch_lab(
        self, nodes: int = 3, bare: set[str] | frozenset[str] | str = frozenset(BARE_PIECES)
    ) -> Iterator[Plan]:
        """A throwaway lab (own prefix, underlay and state dir) whose nodes lack `bare`,
        removed when the block ends, even on failure."""
        lab = build.up_scratch(self.plan, nodes, parse_bare(bare))
        self._scratch.append(lab)
        self._journals.append(Path(lab.journal))
        try:
            yield lab
        finally:
            self._journals.remove(Path(lab.journal))
            self._pods = [p for p in self._pods if p[0].plan is not lab]
            build.down_scratch(self.plan, lab)
            self._scratch.remove(lab)

    def tempdir(self) -> Path:
        """A fresh folder under the lab's state dir, removed when the check ends."""
        assert self._tmp is not None, "tempdir() is for use inside a check"
        return Path(tempfile.mkdtemp(prefix="t", dir=self._tmp))

    def run_function(
        self, name: str, *args: Any, netns: str | None = None, file: Path | None = None
    ) -> FunctionRun:
        """`name(*args)` of the student's file (or `file`) in a child process, inside
        `netns` when given; a crash comes back with the student's line, never raised."""
        return run_function(file or self.file, name, list(args), netns)

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
    @contextmanager
    def running(self) -> Iterator[None]:
        """Around the check: a clean start, and nothing left at the end but kept pods.

        tempfile's default folder points into the check's own while it runs, so a
        check's `tempfile.mkdtemp()` is removed with it too.
        """
        self.clear_previous()
        self._tmp = Path(self.plan.state_dir, "checks", f"{self.prefix}-{secrets.token_hex(4)}")
        self._tmp.mkdir(parents=True)
        self._node_links.snapshot()
        saved, tempfile.tempdir = tempfile.tempdir, str(self._tmp)
        try:
            yield
        finally:
            tempfile.tempdir = saved
            self.cleanup()

    def keep_link(self, node: str, name: str) -> None:
        """Leave link `name` on `node` when the check ends, as `keep=True` does for a pod:
        for what the lesson builds into the student's lab (their `cni0` in step 5)."""
        netns = self.plan.node(node).netns
        self._node_links.before.setdefault(netns, set()).add(name)
        self.kept_links.append(f"{node}/{name}")

    def kept(self) -> list[str]:
        return [name for runtime, name, keep in self._pods if keep and runtime.get(name)]

    def cleanup(self) -> None:
        for lab in list(self._scratch):
            build.down_scratch(self.plan, lab)
        for runtime, name, keep in reversed(self._pods):
            if not keep:
                remove_pod(runtime, name)
        self.clear_previous(keep=set(self.kept()))  # pods made through c.runtime directly
        for ns in self._namespaces:
            delete_netns(ns)
        self._node_links.remove_new()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def clear_previous(self, keep: AbstractSet[str] = frozenset()) -> None:
        """Remove this step's pods and namespaces but `keep`: what an earlier run kept
        for the graph (or left by a crash), or, at the end, what this run made."""
        for pod in self.runtime.list():
            if pod.name.startswith(self.prefix + "-") and pod.name not in keep:
                remove_pod(self.runtime, pod.name)
        kept = {self.plan.pod_netns(name) for name in keep}
        for ns in list_netns():
            if ns.startswith(f"{self.plan.prefix}-{self.prefix}-") and ns not in kept:
                delete_netns(ns)


def load_check(exercise: Exercise) -> Callable[[Checker], None]:
    spec = importlib.util.spec_from_file_location(
        f"cnilab_check_{exercise.number:02d}", exercise.check_file
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check  # type: ignore[no-any-return]


def run_check(
    exercise: Exercise,
    plan: Plan,
    file: Path,
    workspace: Workspace | None = None,
    progress: Progress | None = None,
) -> Report:
    """Run the step's check on `file`. `workspace` supplies the student's files for the
    earlier steps (else their solutions); `progress` hears of each assertion as it
    starts (passed None) and ends."""
    start = time.monotonic()
    report = Report(exercise.number, exercise.slug, exercise.title, str(file), passed=False)
    if not file.is_file():
        report.assertions = [Assertion("your file exists", False, f"{file} does not exist")]
        return report
    checker = Checker(exercise, plan, file.resolve(), workspace, progress)
    with checker.running():
        try:
            load_check(exercise)(checker)
            report.passed = True
        except _Stop:
            pass
        report.kept = checker.kept() + checker.kept_links
    report.assertions = checker.assertions
    report.own_files, report.reference_files = checker.own_files, checker.reference_files
    failed = next((a for a in report.assertions if a.passed is False), None)
    hint = exercise.hint(failed.hint) if failed is not None and failed.hint else None
    if hint is not None:
        report.hint_number, report.hint_title = hint.number, hint.title
    report.seconds = round(time.monotonic() - start, 2)
    return report

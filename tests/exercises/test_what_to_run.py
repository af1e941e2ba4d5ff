"""Every lesson's "What to run" blocks work exactly as written (issue 15, part 7).

A student types each line of the block into a terminal (the course page's Run button
types one line at a time), so a block is read the way catalog.py's docstring says:
one command per line, `;` between commands, `#` to the end of the line a comment, a
command the lesson expects to fail marked with a trailing `# fails: why` (one whose
outcome is what a troubleshooting student looks for, `# may fail: why`), and no other
shell syntax (no pipes, redirections, `$` or globs), since a line must run as an
argument list. The one exception is a file written from a quoted here-document,
`cat > PATH <<'EOF'` up to the line `EOF`: typed line by line it works in a terminal,
and the test writes the file itself.

Each step runs in a lab of its own, brought up as the student's is (`cnilab up`) under
a unique $CNILAB_PREFIX and $CNILAB_STATE_DIR, with HOME a fresh folder. The lab's
defaults, as a lesson names them, stand for this lab: `~` is HOME, a path under
/run/cnilab lies in the state dir, and a namespace `cnilab-NAME` is `<prefix>-NAME`.
Once `cnilab exercise start N` has copied the starter, the step's reference solution is
copied over it, as if the student had written it, so `cnilab exercise check N` passes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pytest

from lab.cluster import build
from lab.cluster.plan import DEFAULT_PREFIX, DEFAULT_STATE_DIR, load_plan
from lab.exercises.catalog import Exercise, all_exercises, get_exercise
from lab.kernel.netns import delete_netns, list_netns

EXERCISES = all_exercises()
BIN = Path(sys.executable).parent  # the venv's cnilab, as a student's PATH has it
SECTION_RE = re.compile(r"^#{2,3} .*what to run", re.I)
HEADING_RE = re.compile(r"^#{1,3} ")
MARK_RE = re.compile(r"^(fails|may fail)\s*:\s*\S", re.I)
# The one piece of shell read: a file written from a quoted here-document (no expansion).
HEREDOC_RE = re.compile(r"^cat > (?P<path>[^\s'\"<>|;&$`]+) <<'(?P<end>[A-Z]+)'$")
SHELL_ONLY = set("|&<>()$`*?{}\\")  # what only a shell would make sense of
NETNS_WORD_RE = re.compile(rf"^{DEFAULT_PREFIX}-([a-z0-9][a-z0-9-]*)$")
# A command that crashed (an uncaught exception); `calls -v` may show a plugin's.
CRASH_RE = re.compile(r"^Traceback \(most recent call last\):", re.M)
TIMEOUT = 300  # a check on a loaded machine; a hung command fails, it does not hang CI


class Expect(Enum):
    """What the lesson says a command does."""

    OK = "exit 0"
    FAILS = "fails"  # `# fails: why`: a non-zero exit, with a message
    MAY_FAIL = "may fail"  # `# may fail: why`: either, as the hidden fault has it


class LessonSyntaxError(ValueError):
    """A line of a block that cannot run as an argument list."""


@dataclass(frozen=True)
class Command:
    line: str  # as the lesson writes it
    argv: tuple[str, ...]
    expect: Expect = Expect.OK
    text: str | None = None  # a here-document's lines: `cat > PATH <<'EOF'` writes them


def what_to_run(readme: str) -> list[str]:
    """The lines of every fenced block under a "What to run" heading (level 2 or 3),
    up to the next heading of level 1 to 3: the blocks the page gives Run buttons."""
    lines: list[str] = []
    in_section = in_block = False
    for line in readme.splitlines():
        if line.startswith("```"):
            in_block = not in_block
        elif in_block:
            if in_section:
                lines.append(line)
        elif HEADING_RE.match(line):
            in_section = bool(SECTION_RE.match(line))
    return lines


def _split_line(line: str) -> tuple[list[str], str]:
    """The `;`-separated parts of a line and its comment, quotes respected; any other
    character only a shell would act on is refused."""
    parts, part, quote, i = [], "", "", 0
    while i < len(line):
        ch = line[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (not part or part[-1].isspace()):
            return [*parts, part], line[i + 1 :].strip()
        elif ch == ";":
            parts.append(part)
            part, i = "", i + 1
            continue
        elif ch in SHELL_ONLY:
            raise LessonSyntaxError(f"{line!r}: {ch!r} needs a shell; one command per line")
        part += ch
        i += 1
    if quote:
        raise LessonSyntaxError(f"{line!r}: unclosed quote")
    return [*parts, part], ""


def parse_commands(lines: list[str]) -> list[Command]:
    """The commands of a block's lines; every line a terminal cannot run is named."""
    commands: list[Command] = []
    wrong = []
    rest = iter(lines)
    for line in rest:
        heredoc = HEREDOC_RE.match(line.strip())
        if heredoc:
            body, end = [], heredoc["end"]
            for x in rest:
                if x == end:
                    break
                body.append(x)
            else:
                wrong.append(f"{line!r}: no {end} line ends the here-document")
            argv = ("cat", ">", heredoc["path"])
            commands.append(Command(line.strip(), argv, text="".join(f"{x}\n" for x in body)))
            continue
        try:
            parts, comment = _split_line(line)
        except LessonSyntaxError as e:
            wrong.append(str(e))
            continue
        argvs = [a for a in (shlex.split(p) for p in parts) if a]
        mark = MARK_RE.match(comment)
        said = Expect(mark.group(1).lower()) if mark else Expect.OK
        for n, argv in enumerate(argvs):
            last = n == len(argvs) - 1
            commands.append(Command(line.strip(), tuple(argv), said if last else Expect.OK))
    if wrong:
        raise LessonSyntaxError("\n".join(wrong))
    return commands


@dataclass(frozen=True)
class StudentLab:
    """Where the student's lab and workspace are, as the CLI finds them in the env."""

    home: Path
    state_dir: Path
    prefix: str

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNILAB_")}
        return {
            **env,
            "HOME": str(self.home),
            "CNILAB_STATE_DIR": str(self.state_dir),
            "CNILAB_PREFIX": self.prefix,
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
        }

    def word(self, word: str) -> str:
        """A word of the lesson, with the lab's defaults standing for this lab."""
        if word == "~" or word.startswith("~/"):
            return str(self.home) + word[1:]
        default = str(DEFAULT_STATE_DIR)
        if word == default or word.startswith(default + "/"):
            return str(self.state_dir) + word[len(default) :]
        match = NETNS_WORD_RE.match(word)
        return f"{self.prefix}-{match.group(1)}" if match else word

    def run(self, cmd: Command) -> subprocess.CompletedProcess[str]:
        words = [self.word(w) for w in cmd.argv]
        if cmd.text is not None:
            return self._write(Path(words[2]), cmd.text)
        program = shutil.which(words[0], path=self.env["PATH"])
        if program is None:
            return subprocess.CompletedProcess(words, 127, "", f"{words[0]}: command not found")
        return subprocess.run(
            [program, *words[1:]],
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    @staticmethod
    def _write(path: Path, text: str) -> subprocess.CompletedProcess[str]:
        """`cat > path <<'EOF'`, as a shell would do it."""
        try:
            path.write_text(text)
        except OSError as e:
            return subprocess.CompletedProcess(["cat"], 1, "", f"{path}: {e.strerror}")
        return subprocess.CompletedProcess(["cat"], 0, "", "")

    def as_if_written(self, argv: tuple[str, ...]) -> None:
        """After `cnilab exercise start N`: the step's solution over the starter."""
        if argv[:3] != ("cnilab", "exercise", "start") or len(argv) < 4:
            return
        ex = get_exercise(argv[3])
        shutil.copyfile(ex.solution, self.home / "cnilab-work" / ex.folder.name / ex.file)

    def namespaces(self) -> list[str]:
        """Namespaces of this lab and of its checks' throwaway labs (`<prefix>s...`)."""
        return [ns for ns in list_netns() if ns.startswith(self.prefix)]


@pytest.fixture
def student(tmp_path: Path) -> Iterator[StudentLab]:
    home = tmp_path / "home"
    home.mkdir()
    # 9 characters: a check's throwaway lab is named after the first 9 (lab.cluster.build)
    lab = StudentLab(home, tmp_path / "state", f"wr{uuid.uuid4().hex[:7]}")
    try:
        up = lab.run(Command("cnilab up", ("cnilab", "up")))
        assert up.returncode == 0, up.stdout + up.stderr
        yield lab
    finally:
        down = lab.run(Command("cnilab down", ("cnilab", "down")))
        left, state_left = lab.namespaces(), lab.state_dir.exists()
        build.down(load_plan(lab.state_dir))  # whatever a failed `down` left, then the rest
        for ns in lab.namespaces():
            delete_netns(ns)
        assert down.returncode == 0, down.stdout + down.stderr
        assert left == [], "namespaces left after `cnilab down`"
        assert not state_left, "`cnilab down` left the lab's state dir"


def _outcome(cmd: Command, out: subprocess.CompletedProcess[str]) -> str | None:
    """Why this command did not do what the lesson says, or None."""
    said = f"$ {cmd.line}\n  exit {out.returncode}\n{_tail(out.stdout)}{_tail(out.stderr)}"
    if CRASH_RE.search(out.stderr):
        return f"a crash, not an error message:\n{said}"
    if cmd.expect is Expect.FAILS and out.returncode == 0:
        return f"the lesson says this fails, but it exited 0:\n{said}"
    if out.returncode != 0 and not (out.stdout + out.stderr).strip():
        return f"failed without a word of why:\n{said}"
    if cmd.expect is Expect.OK and out.returncode != 0:
        return f"failed (mark it `# fails: why` if the lesson means it to):\n{said}"
    return None


def _tail(text: str, lines: int = 15) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "".join(f"  | {line}\n" for line in kept)


def lesson_commands(ex: Exercise) -> list[Command]:
    """The step's commands, or a failure naming every line a terminal cannot run."""
    try:
        commands = parse_commands(what_to_run(ex.readme))
    except LessonSyntaxError as e:
        pytest.fail(f"{ex.folder.name}: lines of What to run need a shell:\n{e}")
    assert commands, f"{ex.folder.name}: no command under What to run"
    return commands


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.folder.name)
def test_what_to_run_is_one_command_a_line(ex: Exercise) -> None:
    lesson_commands(ex)


@pytest.mark.root
@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.folder.name)
def test_what_to_run_works_as_written(request: pytest.FixtureRequest, ex: Exercise) -> None:
    commands = lesson_commands(ex)  # before a lab is up: a lesson a terminal cannot run
    student: StudentLab = request.getfixturevalue("student")
    problems = []
    for cmd in commands:
        out = student.run(cmd)
        problem = _outcome(cmd, out)
        if problem:
            problems.append(problem)
        elif out.returncode == 0:
            student.as_if_written(cmd.argv)
    assert not problems, f"{ex.folder.name}:\n" + "\n".join(problems)


SELF_TEST = """## What to run
```sh
cnilab status
ip netns add cnilab-extra      # a name of the lab: `cnilab down` removes it
cnilab exec extra -- true      # fails: not a pod of the lab, just a namespace
cnilab pod del nosuch          # fails: no such pod
cnilab pod add x --node node9
cnilab status                  # fails: but the lab is up
cnilab exec node1 -- ping -c1 -W1 192.0.2.1   # may fail: nothing there
```
"""


@pytest.mark.root
def test_the_runner_reports_what_a_lesson_gets_wrong(student: StudentLab) -> None:
    got = [(c.line, _outcome(c, student.run(c))) for c in parse_commands(what_to_run(SELF_TEST))]
    wrong = [line.split()[:4] for line, problem in got if problem]
    assert wrong == [["cnilab", "pod", "add", "x"], ["cnilab", "status", "#", "fails:"]]
    assert f"{student.prefix}-extra" in list_netns()  # gone after `cnilab down`: the fixture


# The reader of blocks itself: a test of lessons is only as good as its parser.


def test_a_block_is_read_line_by_line_with_comments_and_semicolons() -> None:
    readme = (
        "## Goal\n```sh\nnot this\n```\n## What to run\ntext\n```sh\n"
        "cnilab exercise start 6   # copies the starter\n"
        "# a whole-line comment\n\n"
        "cnilab pod add a; cnilab pod add b\n"
        "cnilab pod check a   # fails: its address is gone\n"
        "cnilab exec a -- ping -c1 10.244.0.1   # May fail: if the veth is down\n"
        "cnilab exec a -- echo 'a # b; c'\n"
        "```\n### What to run on node2\n```\ncnilab status\n```\n## Hints\n```sh\nno\n```\n"
    )
    got = [(c.argv, c.expect) for c in parse_commands(what_to_run(readme))]
    assert got == [
        (("cnilab", "exercise", "start", "6"), Expect.OK),
        (("cnilab", "pod", "add", "a"), Expect.OK),
        (("cnilab", "pod", "add", "b"), Expect.OK),
        (("cnilab", "pod", "check", "a"), Expect.FAILS),
        (("cnilab", "exec", "a", "--", "ping", "-c1", "10.244.0.1"), Expect.MAY_FAIL),
        (("cnilab", "exec", "a", "--", "echo", "a # b; c"), Expect.OK),
        (("cnilab", "status"), Expect.OK),
    ]


def test_a_mark_after_semicolons_is_the_last_commands() -> None:
    first, last = parse_commands(["cnilab pod del a; cnilab pod del a   # fails: gone"])
    assert (first.expect, last.expect) == (Expect.OK, Expect.FAILS)
    assert first.line == last.line == "cnilab pod del a; cnilab pod del a   # fails: gone"


@pytest.mark.parametrize(
    "line",
    [
        "cnilab calls -v | less",
        "cat > ~/net.json <<'EOF'",  # never ended
        "cat > ~/net.json <<EOF",  # unquoted: the shell would expand $ in it
        "cat >> ~/net.json <<'EOF'",
        "cnilab up && cnilab status",
        "ls /run/cnilab/*",
        "echo $HOME",
        "cnilab exec a -- echo 'unclosed",
    ],
)
def test_shell_syntax_in_a_block_is_a_defect_of_the_lesson(line: str) -> None:
    with pytest.raises(LessonSyntaxError):
        parse_commands([line])


def test_a_quoted_here_document_writes_its_lines_and_the_block_goes_on(tmp_path: Path) -> None:
    lines = ["cat > ~/x/net.json <<'EOF'", '{"name": "a $b | c"}', "  # kept", "EOF", "ls ~/x"]
    write, ls = parse_commands(lines)
    assert (write.text, ls.argv) == ('{"name": "a $b | c"}\n  # kept\n', ("ls", "~/x"))
    lab = StudentLab(tmp_path, tmp_path / "state", "wrabc")
    assert lab.run(write).returncode == 1  # no folder ~/x yet: as a shell says
    (tmp_path / "x").mkdir()
    assert lab.run(write).returncode == 0
    assert (tmp_path / "x" / "net.json").read_text() == write.text


def test_a_comment_that_only_mentions_failing_does_not_mark_the_command() -> None:
    (cmd,) = parse_commands(["cnilab pod check mine   # now CHECK should fail"])
    assert cmd.expect is Expect.OK


def test_the_lab_defaults_a_lesson_names_stand_for_the_test_lab(tmp_path: Path) -> None:
    lab = StudentLab(tmp_path / "home", tmp_path / "state", "wrabc")
    assert (
        lab.word("~/cnilab-work/06-add/plugin.py")
        == f"{tmp_path}/home/cnilab-work/06-add/plugin.py"
    )
    assert lab.word("/run/cnilab/nodes/node2/net.d") == f"{tmp_path}/state/nodes/node2/net.d"
    assert lab.word("/run/cnilabx") == "/run/cnilabx"
    assert lab.word("cnilab-try2") == "wrabc-try2"
    assert lab.word("/tmp/cnilab-try2.log") == "/tmp/cnilab-try2.log"
    assert lab.word("cnilab") == "cnilab"
    assert lab.env["HOME"] == str(tmp_path / "home")
    assert lab.env["PATH"].split(os.pathsep)[0] == str(BIN)


@pytest.mark.parametrize(
    ("expect", "code", "stderr", "wrong"),
    [
        (Expect.OK, 0, "", False),
        (Expect.OK, 1, "error: no lab is up", True),
        (Expect.FAILS, 1, "error: CHECK of mine/eth0 failed", False),
        (Expect.FAILS, 0, "", True),
        (Expect.FAILS, 1, "", True),
        (Expect.FAILS, 1, "Traceback (most recent call last):\n  File ...\nKeyError: 'ips'", True),
        (Expect.OK, 1, "error: DEL failed: Traceback (most recent call last): ...", True),
        (Expect.MAY_FAIL, 0, "", False),
        (Expect.MAY_FAIL, 1, "1 packets transmitted, 0 received", False),
        (Expect.MAY_FAIL, 1, "", True),
        (Expect.MAY_FAIL, 0, "Traceback (most recent call last):\n  File ...", True),
    ],
)
def test_a_command_does_what_the_lesson_says_or_is_reported(
    expect: Expect, code: int, stderr: str, wrong: bool
) -> None:
    cmd = Command("cnilab x", ("cnilab", "x"), expect)
    out = subprocess.CompletedProcess(cmd.argv, code, "", stderr)
    assert (_outcome(cmd, out) is not None) == wrong

"""Step 2 (skeleton): every command is called, errors are read field by field, and
the mistakes students really make are each refused at the assertion about them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import get_exercise
from lab.exercises.checker import run_check
from lab.kernel.netns import list_netns
from tests.exercises.conftest import Mutant, assert_rejected, mutant, write_mutant

pytestmark = pytest.mark.root
EX = get_exercise("skeleton")

MUTANTS = [
    mutant(
        "VERSION lists only the newest version",
        '"supportedVersions": SUPPORTED_VERSIONS',
        '"supportedVersions": ["1.1.0"]',
        "VERSION",
    ),
    mutant(
        "logs go to stdout",
        'filename=conf.get("logFile", LOG_FILE)',
        "stream=sys.stdout",
        "nothing else",
    ),
    mutant(
        "the result's version is hard-coded",
        'answer({"cniVersion": conf.get("cniVersion", "1.1.0")})',
        'answer({"cniVersion": "1.0.0"})',
        "config's cniVersion",
    ),
    mutant(
        "the config's logFile is ignored",
        'filename=conf.get("logFile", LOG_FILE)',
        "filename=LOG_FILE",
        "logged to the config's logFile",
    ),
    mutant(
        "the log does not say which container",
        '"%s container=%s netns=%s ifname=%s",\n        command,\n'
        '        os.environ.get("CNI_CONTAINERID", ""),',
        '"%s netns=%s ifname=%s",\n        command,',
        "logged to the config's logFile",
    ),
    mutant(
        "CHECK falls through to the unknown-command error",
        'elif command in ("DEL", "CHECK"):',
        'elif command == "DEL":',
        "DEL and CHECK",
    ),
    mutant(
        "DEL answers a result like ADD",
        'elif command in ("DEL", "CHECK"):\n        pass',
        'elif command in ("DEL", "CHECK"):\n        answer({"cniVersion": conf["cniVersion"]})',
        "DEL and CHECK",
    ),
    mutant(
        "DEL requires the netns like ADD",
        'if command == "ADD":\n        missing',
        'if command in ("ADD", "DEL"):\n        missing',
        "DEL and CHECK",
    ),
    mutant(
        "the error object has no cniVersion",
        'answer({"cniVersion": "1.1.0", "code": code, "msg": msg})',
        'answer({"code": code, "msg": msg})',
        "unknown command",
    ),
    mutant(
        "the error goes to stderr",
        'answer({"cniVersion": "1.1.0", "code": code, "msg": msg})',
        'print(json.dumps({"cniVersion": "1.1.0", "code": code, "msg": msg}), file=sys.stderr)',
        "unknown command",
    ),
    mutant(
        "the error code is a string",
        '"code": code, "msg"',
        '"code": str(code), "msg"',
        "unknown command",
    ),
    mutant(
        "the error exits 0",
        "    sys.exit(1)",
        "    sys.exit(0)",
        "unknown command",
    ),
    mutant(
        "ADD never looks for the variables it needs",
        "        if missing:\n            fail(4",
        "        if False:\n            fail(4",
        "without CNI_CONTAINERID",
    ),
    mutant(
        "valid JSON that is not an object gets through",
        "    if not isinstance(conf, dict):\n",
        "    if False:\n",
        "not a JSON object",
    ),
    mutant(
        "garbage on stdin is a traceback",
        "    except json.JSONDecodeError as e:\n",
        "    except KeyError as e:\n",
        "not a JSON object",
    ),
]


def test_check_fails_on_the_starter(plan: Plan) -> None:
    report = run_check(EX, plan, EX.starter)
    failed = [a for a in report.assertions if a.passed is False]
    assert not report.passed and len(failed) == 1 and failed[0].hint == 1


def test_check_passes_on_the_solution(plan: Plan) -> None:
    report = run_check(EX, plan, EX.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert len(report.assertions) == 8


@pytest.mark.parametrize("m", MUTANTS, ids=str)
def test_a_one_bug_variant_is_rejected(plan: Plan, tmp_path: Path, m: Mutant) -> None:
    assert_rejected(run_check(EX, plan, write_mutant(tmp_path, EX, m)), m)


def test_the_check_leaves_no_namespace_or_log(plan: Plan) -> None:
    run_check(EX, plan, EX.solution)
    assert not [ns for ns in list_netns() if ns.startswith(f"{plan.prefix}-ex02-")]
    assert not list(Path(plan.state_dir).glob("checks/ex02-*"))

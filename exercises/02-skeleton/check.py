"""Step 2: the protocol only: VERSION, a clean stdout, a log file, error objects."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from lab.exercises.checker import Checker


def _json(c: Checker, stdout: bytes, what: str) -> dict:
    try:
        obj = json.loads(stdout)
    except ValueError:
        c.expect(False, f"{what}: stdout must hold only JSON, got {stdout[:120]!r}")
    c.expect(isinstance(obj, dict), f"{what}: stdout must be a JSON object")
    return obj


def check(c: Checker) -> None:
    with c.step("VERSION lists the supported versions", hint=1):
        ex = c.call("VERSION", {"cniVersion": "1.1.0"})
        c.expect(ex.returncode == 0, f"VERSION exited {ex.returncode}: {ex.stderr[-300:]!r}")
        version = _json(c, ex.stdout, "VERSION")
        supported = version.get("supportedVersions", [])
        c.expect(
            "0.4.0" in supported and "1.1.0" in supported,
            f"supportedVersions should include 0.4.0 and 1.1.0, got {supported}",
        )
        c.expect(version.get("cniVersion"), "the answer needs a cniVersion")

    log_file = Path(tempfile.mkdtemp(prefix="cnilab-ex02-")) / "plugin.log"
    conf = {"cniVersion": "1.0.0", "name": "ex02", "type": "pycni", "logFile": str(log_file)}
    netns = c.empty_netns("skel")
    with c.step("ADD answers a JSON result on stdout, nothing else", hint=2):
        ex = c.call("ADD", conf, container_id="ex02-container", netns=netns)
        c.expect(ex.returncode == 0, f"ADD exited {ex.returncode}: {ex.stdout[-300:]!r}")
        result = _json(c, ex.stdout, "ADD")
        c.expect(
            result.get("cniVersion") == "1.0.0",
            "ADD's result must be written in the config's cniVersion (1.0.0 here)",
        )

    with c.step("the call is logged to the config's logFile", hint=2):
        c.expect(log_file.exists(), f"nothing was written to {log_file}")
        text = log_file.read_text()
        c.expect(
            "ADD" in text and "ex02-container" in text,
            "the log should show the command (ADD) and the container ID",
        )

    with c.step("an unknown command is error 4 on stdout, exit 1", hint=3):
        ex = c.call("FROB", conf, container_id="ex02-container", netns=netns)
        c.expect(ex.returncode != 0, "an unknown command must exit non-zero")
        err = _json(c, ex.stdout, "FROB")
        c.expect(err.get("code") == 4, f"expected code 4, got {err.get('code')}")
        c.expect(err.get("msg"), "the error needs a msg")

    with c.step("malformed JSON on stdin is error 6", hint=1):
        ex = c.call("ADD", b"{not json", container_id="ex02-container", netns=netns)
        c.expect(ex.returncode != 0, "garbage on stdin must exit non-zero")
        c.expect(_json(c, ex.stdout, "ADD with garbage").get("code") == 6, "expected code 6")

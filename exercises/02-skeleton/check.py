"""Step 2: the protocol only. Every command is called, twice where a hard-coded value
would pass once; the errors are inspected field by field; the log must show each call
and stdout must hold nothing but the answer."""

from __future__ import annotations

import json
from typing import Any

from lab.cni.invoke import Execution
from lab.exercises.checker import Checker

ALL_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


def _out(ex: Execution) -> str:
    return ex.stdout.decode(errors="replace").strip()


def _error(c: Checker, ex: Execution, what: str, code: int) -> None:
    """A complete error object on stdout with `code`, and a non-zero exit."""
    c.expect(ex.returncode != 0, f"{what} must exit non-zero, it exited 0: {_out(ex)[:200]!r}")
    out = _out(ex)
    c.expect(out, f"{what}: nothing on stdout (the runtime reads the error object there)")
    try:
        err = json.loads(out)
    except ValueError:
        c.expect(False, f"{what}: stdout must hold only the error object, got {out[:160]!r}")
    c.expect(isinstance(err, dict), f"{what}: the error must be a JSON object, got {out[:80]}")
    version = err.get("cniVersion")
    c.expect(
        version in ALL_VERSIONS, f"{what}: the error object needs a cniVersion, got {version!r}"
    )
    c.expect(
        type(err.get("code")) is int, f"{what}: code must be a number, got {err.get('code')!r}"
    )
    c.expect(err["code"] == code, f"{what}: expected code {code}, got {err['code']}")
    msg = err.get("msg")
    c.expect(isinstance(msg, str) and msg.strip(), f"{what}: the error needs a msg")


def _silent(c: Checker, ex: Execution, what: str) -> None:
    c.expect(ex.returncode == 0, f"{what} exited {ex.returncode}: {_out(ex)[-300:]!r}")
    c.expect(not _out(ex), f"{what} succeeds in silence, but printed {_out(ex)[:120]!r}")


def check(c: Checker) -> None:
    with c.step("VERSION answers its version and every supported one", hint=1):
        version = c.result_of(c.call("VERSION", {"cniVersion": "1.1.0"}), "VERSION")
        supported = c.result_field(version, "supportedVersions", what="VERSION answer")
        c.expect(isinstance(supported, list), f"supportedVersions must be a list: {supported!r}")
        missing = [v for v in ALL_VERSIONS if v not in supported]
        c.expect(not missing, f"supportedVersions lacks {', '.join(missing)}: got {supported}")
        c.expect(
            version.get("cniVersion") in supported,
            f"VERSION's own cniVersion must be one it supports, got {version.get('cniVersion')!r}",
        )

    log_file = c.tempdir() / "plugin.log"
    netns = c.empty_netns("skel")
    conf: dict[str, Any] = {"name": "ex02", "type": "pycni", "logFile": str(log_file)}
    results = {}
    with c.step("ADD answers one JSON result on stdout, nothing else", hint=2):
        for version, cid in (("1.0.0", "ex02-first"), ("0.4.0", "ex02-second")):
            ex = c.call("ADD", {**conf, "cniVersion": version}, container_id=cid, netns=netns)
            results[version] = c.result_of(ex, f"ADD (config cniVersion {version})")

    with c.step("ADD's result speaks the config's cniVersion", hint=3):
        for version, result in results.items():
            got = result.get("cniVersion")
            c.expect(got == version, f"the config asked for {version}, your result says {got!r}")

    with c.step("every call is logged to the config's logFile", hint=2):
        c.expect(log_file.exists(), f"nothing was written to {log_file} (the config's logFile)")
        lines = log_file.read_text(errors="replace").splitlines()
        for cid in ("ex02-first", "ex02-second"):
            c.expect(
                any("ADD" in line and cid in line for line in lines),
                f"no line of the log shows the ADD of container {cid} with its command",
            )

    conf["cniVersion"] = "1.0.0"
    with c.step("DEL and CHECK succeed in silence, and are logged", hint=4):
        _silent(c, c.call("CHECK", conf, container_id="ex02-first", netns=netns), "CHECK")
        _silent(c, c.call("DEL", conf, container_id="ex02-first", netns=netns), "DEL")
        gone = c.call("DEL", conf, container_id="ex02-gone")  # its netns is already gone
        _silent(c, gone, "DEL without CNI_NETNS")
        text = log_file.read_text(errors="replace")
        for command, cid in (("CHECK", "ex02-first"), ("DEL", "ex02-gone")):
            c.expect(
                any(command in line and cid in line for line in text.splitlines()),
                f"no line of the log shows the {command} of container {cid}",
            )

    with c.step("an unknown command is error 4: a complete error object on stdout", hint=5):
        _error(c, c.call("FROB", conf, container_id="ex02-first", netns=netns), "FROB", 4)

    with c.step("an ADD without CNI_CONTAINERID or CNI_NETNS is error 4", hint=5):
        _error(c, c.call("ADD", conf, netns=netns), "ADD without CNI_CONTAINERID", 4)
        _error(c, c.call("ADD", conf, container_id="ex02-x"), "ADD without CNI_NETNS", 4)

    with c.step("stdin that is not a JSON object is error 6", hint=5):
        for stdin in (b"{not json", b"[1, 2]"):
            what = f"ADD with {stdin.decode()!r} on stdin"
            _error(c, c.call("ADD", stdin, container_id="ex02-x", netns=netns), what, 6)

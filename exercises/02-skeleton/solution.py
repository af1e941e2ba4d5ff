"""Step 2: the skeleton of a CNI plugin (reference solution)."""

import json
import logging
import os
import sys

LOG_FILE = "/tmp/cnilab-student.log"
SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
REQUIRED_FOR_ADD = ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME")
log = logging.getLogger("student")


def answer(obj: dict) -> None:
    """The only way anything reaches stdout: the runtime reads the answer there."""
    print(json.dumps(obj))


def fail(code: int, msg: str) -> None:
    """The spec's error object, on stdout like any answer, then a non-zero exit."""
    answer({"cniVersion": "1.1.0", "code": code, "msg": msg})
    sys.exit(1)


def read_conf() -> dict:
    """The network config from stdin; anything but a JSON object is error 6."""
    try:
        conf = json.loads(sys.stdin.read())
    except json.JSONDecodeError as e:
        fail(6, f"failed to decode the network config: {e}")
    if not isinstance(conf, dict):
        fail(6, "the network config must be a JSON object")
    return conf


def main() -> None:
    command = os.environ.get("CNI_COMMAND", "")
    if command == "VERSION":
        answer({"cniVersion": "1.1.0", "supportedVersions": SUPPORTED_VERSIONS})
        return
    conf = read_conf()
    logging.basicConfig(filename=conf.get("logFile", LOG_FILE), level=logging.INFO)
    log.info(
        "%s container=%s netns=%s ifname=%s",
        command,
        os.environ.get("CNI_CONTAINERID", ""),
        os.environ.get("CNI_NETNS", ""),
        os.environ.get("CNI_IFNAME", ""),
    )
    if command == "ADD":
        missing = [name for name in REQUIRED_FOR_ADD if not os.environ.get(name)]
        if missing:
            fail(4, f"ADD needs {', '.join(missing)}")
        answer({"cniVersion": conf.get("cniVersion", "1.1.0")})
    elif command in ("DEL", "CHECK"):
        pass  # nothing to undo or verify yet; success is silence
    else:
        fail(4, f"unknown CNI_COMMAND: {command!r}")


if __name__ == "__main__":
    main()

"""Step 2: the skeleton of a CNI plugin (reference solution)."""

import json
import logging
import os
import sys

LOG_FILE = "/tmp/cnilab-student.log"
SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
log = logging.getLogger("student")


def answer(obj: dict) -> None:
    """The only way anything reaches stdout: the runtime reads the answer there."""
    print(json.dumps(obj))


def fail(code: int, msg: str) -> None:
    answer({"cniVersion": "1.1.0", "code": code, "msg": msg})
    sys.exit(1)


def main() -> None:
    command = os.environ.get("CNI_COMMAND", "")
    container_id = os.environ.get("CNI_CONTAINERID", "")
    if command == "VERSION":
        answer({"cniVersion": "1.1.0", "supportedVersions": SUPPORTED_VERSIONS})
        return
    raw = sys.stdin.read()
    try:
        conf = json.loads(raw)
    except json.JSONDecodeError as e:
        fail(6, f"failed to decode the network config: {e}")
    logging.basicConfig(filename=conf.get("logFile", LOG_FILE), level=logging.INFO)
    log.info(
        "%s container=%s netns=%s ifname=%s",
        command,
        container_id,
        os.environ.get("CNI_NETNS", ""),
        os.environ.get("CNI_IFNAME", ""),
    )
    if command == "ADD":
        answer({"cniVersion": conf.get("cniVersion", "1.1.0")})
    elif command in ("DEL", "CHECK"):
        pass
    else:
        fail(4, f"unknown CNI_COMMAND: {command}")


if __name__ == "__main__":
    main()

"""Step 2: the skeleton of a CNI plugin. Fill in the TODOs, then `cnilab exercise check 2`."""

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
    # TODO 5: print the spec's error object on stdout, then exit with status 1
    sys.exit(1)


def main() -> None:
    command = ""  # TODO 1: read CNI_COMMAND (and CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME)
    if command == "VERSION":
        # TODO 2: answer {"cniVersion": "1.1.0", "supportedVersions": SUPPORTED_VERSIONS}
        return
    raw = ""  # TODO 3: read the whole config from stdin; bad JSON is error 6
    conf = {}
    # TODO 4: log the command and the container ID to conf's "logFile" (or LOG_FILE)
    if command == "ADD":
        answer({"cniVersion": conf.get("cniVersion", "1.1.0")})
    elif command in ("DEL", "CHECK"):
        pass
    else:
        fail(4, f"unknown CNI_COMMAND: {command}")


if __name__ == "__main__":
    main()

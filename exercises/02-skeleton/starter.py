"""Step 2: the skeleton of a CNI plugin. Fill in the TODOs, then `cnilab exercise check 2`.

No networking yet: read the call, log it, and answer in the spec's words.
"""

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
    # TODO 5: answer the spec's error object (every field it needs), then exit non-zero
    sys.exit(1)


def read_conf() -> dict:
    """The network config from stdin; anything but a JSON object is error 6."""
    # TODO 3: read all of stdin and decode it; what cannot be decoded into an object
    # is answered with the spec's "failed to decode content" error
    return {}


def main() -> None:
    command = ""  # TODO 1: which operation the runtime asks for
    if command == "VERSION":
        # TODO 2: answer the version this plugin speaks and every version it supports
        return
    conf = read_conf()
    # TODO 4: send the log to the file the config names (else LOG_FILE), never to
    # stdout, and log the command, the container ID, the netns and the ifname
    if command == "ADD":
        # TODO 6: refuse an ADD that lacks one of REQUIRED_FOR_ADD (invalid environment)
        answer({"cniVersion": "1.1.0"})  # TODO 7: the result speaks the config's version
    elif command in ("DEL", "CHECK"):
        pass  # nothing to undo or verify yet; success is silence
    else:
        fail(4, f"unknown CNI_COMMAND: {command!r}")


if __name__ == "__main__":
    main()

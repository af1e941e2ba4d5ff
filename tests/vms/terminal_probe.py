"""Open one course-page terminal as the browser would and type one command; prints the
hello and the output as JSON. Run inside the test's namespace (where node1's forwarded
ports are), as `python -m tests.vms.terminal_probe URI ORIGIN COMMAND`."""

from __future__ import annotations

import json
import sys

from websockets.sync.client import connect

from tests.terminal.test_server import run

END = "PROBE-END"


def main(uri: str, origin: str, command: str) -> None:
    with connect(uri, origin=origin, open_timeout=60) as ws:  # type: ignore[arg-type]
        hello = json.loads(ws.recv(timeout=60))  # slower than tests.terminal's ready() on TCG
        seen = run(ws, f"{command}; echo {END[:5]}''{END[5:]}", END, timeout=120)
    print(json.dumps({"hello": hello, "output": seen}))


if __name__ == "__main__":
    main(*sys.argv[1:4])

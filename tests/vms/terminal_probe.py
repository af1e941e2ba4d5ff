"""Open one course-page terminal as the browser would and type one command; prints the
hello and the output as JSON. Run inside the test's namespace (where node1's forwarded
ports are), as `python -m tests.vms.terminal_probe URI ORIGIN COMMAND`."""

from __future__ import annotations

import json
import sys
import time

from websockets.sync.client import connect

END = "PROBE-END"


def main(uri: str, origin: str, command: str) -> None:
    with connect(uri, origin=origin, open_timeout=60) as ws:  # type: ignore[arg-type]
        hello = json.loads(ws.recv(timeout=60))
        ws.send(f"{command}; echo {END[:5]}''{END[5:]}\n".encode())
        seen = ""
        deadline = time.monotonic() + 120
        while END not in seen and time.monotonic() < deadline:
            frame = ws.recv(timeout=max(deadline - time.monotonic(), 0.1))
            seen += frame.decode(errors="replace") if isinstance(frame, bytes) else ""
    print(json.dumps({"hello": hello, "output": seen}))


if __name__ == "__main__":
    main(*sys.argv[1:4])

"""`pycni daemon`: a warm process per node that runs CNI calls for the thin `pycni`.

It listens on an abstract unix socket, which exists only inside the network
namespace the daemon runs in: one daemon per node, found without a path, and the
bind is the lock (a second daemon in the same namespace gets EADDRINUSE and
leaves). The master accepts each connection and hands it to a pre-forked warm
worker (lab/pycni/daemon_worker.py), so it alone holds the listener and knows
what is in flight: with `--idle-exit` it leaves once nothing came for that long.

A runtime's first `pycni` call starts one detached (lab/pycni/daemon_control.py);
`cnilab up` and the Vagrant unit start one explicitly, with no idle exit.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

from lab.pycni.daemon_protocol import DAEMON_SOCKET
from lab.pycni.daemon_worker import READY, name_process, start_worker, warm_up

WORKERS = 4
MAX_WORKERS = 32
STUCK_AFTER = 2.0  # seconds every worker has been busy, calls waiting, before one more


class AlreadyRunning(OSError):
    pass


@dataclass
class Worker:
    pid: int
    control: socket.socket
    busy_since: float | None = None


@dataclass
class Master:
    listener: socket.socket
    size: int
    idle_exit: float
    workers: dict[int, Worker] = field(default_factory=dict)  # by control fd
    last_call: float = field(default_factory=time.monotonic)

    def sockets(self) -> list[socket.socket]:
        return [self.listener, *(w.control for w in self.workers.values())]

    def fork_worker(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = start_worker(theirs, [*self.sockets(), ours])
        theirs.close()
        self.workers[ours.fileno()] = Worker(pid, ours)

    def free(self) -> list[Worker]:
        return [w for w in self.workers.values() if w.busy_since is None]

    def hand_over(self, conn: socket.socket) -> bool:
        """Give `conn` to a free worker; False when no worker could take it."""
        for worker in self.free():
            try:
                socket.send_fds(worker.control, [b"c"], [conn.fileno()])
            except OSError:
                self.bury(worker)
                continue
            worker.busy_since = self.last_call = time.monotonic()
            return True
        return False

    def bury(self, worker: Worker) -> None:
        self.workers.pop(worker.control.fileno(), None)
        worker.control.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(worker.pid, 0)

    def on_control(self, worker: Worker) -> None:
        try:
            msg = worker.control.recv(16)
        except OSError:
            msg = b""
        if msg == READY:
            worker.busy_since = None
            self.last_call = time.monotonic()
            if len(self.workers) > self.size:  # an extra, forked for a busy moment
                self.bury(worker)
        else:  # retiring or dead: a busy worker's client sees the call cut short
            self.bury(worker)

    def accept_all(self) -> None:
        while self.free():
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            with conn:
                if not self.hand_over(conn):
                    return  # every worker died at once: the client sees no TAKEN, works itself

    def stuck(self) -> bool:
        """Calls wait while every worker has been busy for long (a lock, a demo's Next)."""
        now = time.monotonic()
        busy = [w.busy_since for w in self.workers.values() if w.busy_since is not None]
        if len(busy) < len(self.workers) or min(busy, default=now) > now - STUCK_AFTER:
            return False
        return bool(select.select([self.listener], [], [], 0)[0])

    def idle_for(self) -> float | None:
        """Seconds until the idle exit (None: never), 0 when it is due."""
        if not self.idle_exit or len(self.free()) != len(self.workers):
            return None
        return max(0.0, self.last_call + self.idle_exit - time.monotonic())

    def loop(self) -> None:
        self.last_call = time.monotonic()  # idle counts from ready, not from the warm-up
        while True:
            while len(self.workers) < self.size:
                self.fork_worker()
            waiting = self.listener.fileno() if self.free() else None
            poller = select.poll()  # anew each turn: workers come and go
            for fd in [waiting, *self.workers]:
                if fd is not None:
                    poller.register(fd, select.POLLIN)
            due = self.idle_for()
            timeout = STUCK_AFTER / 4 if waiting is None else due
            events = poller.poll(None if timeout is None else timeout * 1000)
            for fd, _ in events:
                if fd == waiting:
                    self.accept_all()
                elif fd in self.workers:
                    self.on_control(self.workers[fd])
            if waiting is None and len(self.workers) < MAX_WORKERS and self.stuck():
                self.fork_worker()
            if not events and self.idle_for() == 0:
                return

    def close(self) -> None:
        """Stop listening first (the name goes with it), then end the workers."""
        self.listener.close()
        for worker in list(self.workers.values()):
            with contextlib.suppress(ProcessLookupError):
                if worker.busy_since is not None:
                    os.kill(worker.pid, signal.SIGTERM)
            worker.control.close()  # an idle worker reads EOF and exits
        for worker in self.workers.values():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(worker.pid, 0)


def bind(address: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address)
    except OSError as e:
        listener.close()
        if e.errno == errno.EADDRINUSE:
            raise AlreadyRunning(e.errno, "a pycni daemon already listens in this namespace") from e
        raise
    listener.listen(128)
    listener.setblocking(False)
    return listener


def serve(address: str = DAEMON_SOCKET, workers: int = WORKERS, idle_exit: float = 0) -> None:
    """Bind first (calls queue while we warm up), then serve until SIGTERM or idle."""
    name_process(b"pycni-daemon")
    os.chdir("/")
    listener = bind(address)
    master = Master(listener, workers, idle_exit)

    def stop(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        warm_up()
        master.loop()
    finally:
        master.close()


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pycni daemon", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=WORKERS, help="warm workers kept ready")
    parser.add_argument(
        "--idle-exit", type=float, default=0, metavar="SECONDS", help="leave after idle (0: never)"
    )
    opts = parser.parse_args(argv)
    if not 1 <= opts.workers <= MAX_WORKERS or not 0 <= opts.idle_exit <= 86400:
        parser.error(f"--workers takes 1 to {MAX_WORKERS}, --idle-exit 0 to 86400 seconds")
    try:
        serve(workers=opts.workers, idle_exit=opts.idle_exit)
    except OSError as e:
        print(f"pycni daemon: cannot listen: {e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0

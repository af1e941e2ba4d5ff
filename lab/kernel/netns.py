"""Entering network namespaces, for short-lived processes only.

`setns(2)` moves the *calling thread*. A plugin process may do that, because it is
single-threaded and exits soon; so may a `pycni daemon` worker, single-threaded too,
which checks after each call that it is back home and retires if not. A server must
never do it on a request thread: see README.md beside this file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
S = TypeVar("S", bound=AbstractContextManager[Any])

CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED, MNT_DETACH = 0x1000, 0x4000, 0x100000, 0x2
NETNS_RUN_DIR = "/run/netns"
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsNotFound(OSError):
    """The namespace path does not exist (or is not a namespace): DEL treats it as gone."""


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _share_run_dir() -> None:
    """Make /run/netns a shared mount, as `ip netns add` does, so bind mounts propagate."""
    os.makedirs(NETNS_RUN_DIR, exist_ok=True)
    run_dir = NETNS_RUN_DIR.encode()
    if _libc.mount(b"", run_dir, b"none", MS_SHARED | MS_REC, None) != 0:
        _check(_libc.mount(run_dir, run_dir, b"none", MS_BIND | MS_REC, None), "bind /run/netns")
        _check(_libc.mount(b"", run_dir, b"none", MS_SHARED | MS_REC, None), "share /run/netns")


def create_netns(name: str) -> str:
    """Create /run/netns/<name> like `ip netns add`, without forking.

    pyroute2's netns.create forks a child, which is unsafe in a threaded server. Here a
    throw-away thread unshares its own network namespace, pins it with a bind mount and
    ends: no thread of ours is left inside it.
    """
    path = os.path.join(NETNS_RUN_DIR, name)
    _share_run_dir()
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    failure: list[BaseException] = []

    def pin() -> None:
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare")
            _check(
                _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None),
                f"bind {path}",
            )
        except BaseException as e:
            failure.append(e)

    worker = threading.Thread(target=pin, name=f"netns-create-{name}")
    worker.start()
    worker.join()
    if failure:
        os.unlink(path)
        raise failure[0]
    return path


def delete_netns(name: str) -> bool:
    """Unpin and remove a namespace; False when it did not exist (a second delete)."""
    path = os.path.join(NETNS_RUN_DIR, name)
    if not os.path.exists(path):
        return False
    _libc.umount2(path.encode(), MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


def open_netns(path: str) -> int:
    """Open a namespace file, telling "gone" apart from other failures."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as e:
        raise NetnsNotFound(errno.ENOENT, f"network namespace {path!r} does not exist") from e
    try:
        os.fstat(fd)  # a bind mount that lost its namespace still opens; setns will tell
    except OSError:
        os.close(fd)
        raise
    return fd


@contextmanager
def in_netns(path: str) -> Iterator[None]:
    """Run the block in the namespace at `path`, then return to where the thread was."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = open_netns(path)
        try:
            try:
                setns(target)
            except OSError as e:
                if e.errno == errno.EINVAL:
                    raise NetnsNotFound(e.errno, f"{path!r} is not a network namespace") from e
                raise
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(home)
    finally:
        os.close(home)


@contextmanager
def socket_in(path: str, open_socket: Callable[[], S]) -> Iterator[tuple[S, int]]:
    """A netlink socket living in `path`'s namespace, plus an fd of that namespace.

    The thread enters only to create the socket; everything after runs from home.
    """
    fd = open_netns(path)
    try:
        with in_netns(path):
            sock = open_socket()
        with sock:
            yield sock, fd
    finally:
        os.close(fd)


def iproute_in(path: str) -> AbstractContextManager[tuple[Any, int]]:
    """A pyroute2 IPRoute in `path`'s namespace (for students' plugins and the lab's
    cold paths; pycni uses lab.kernel.rtnl). It joins no multicast group, so the events
    of its own changes never queue up in it."""
    from pyroute2 import IPRoute

    return socket_in(path, lambda: IPRoute(groups=0))


def run_in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a throw-away thread inside `path`'s namespace; safe in a threaded server.

    The calling thread never moves; the worker thread enters, runs, and ends.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            with in_netns(path):
                outcome.append(fn())
        except BaseException as e:
            failure.append(e)

    worker = threading.Thread(target=work, name="netns-worker")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


def set_loopback_up(path: str) -> None:
    """Every runtime brings lo up in a new pod (containerd via the `loopback` plugin)."""
    from lab.kernel import links, rtnl

    def up() -> None:
        with rtnl.Rtnl.open() as sock:
            links.set_link(sock, links.link_by_name(sock, "lo").index, up=True)

    run_in_netns(path, up)

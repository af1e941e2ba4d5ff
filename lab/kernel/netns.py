"""Entering network namespaces, for short-lived processes only.

`setns(2)` moves the *calling thread*. A plugin process (or an agent's forked
child) may do that, because it is single-threaded and exits soon. A server must
never do it on a request thread: see README.md beside this file.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsNotFound(OSError):
    """The namespace path does not exist (or is not a namespace): DEL treats it as gone."""


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


def same_netns(path: str) -> bool:
    """True when `path` is the namespace this thread is in (a runtime may pass the host's own)."""
    a = os.stat(path)
    b = os.stat("/proc/thread-self/ns/net")
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@contextmanager
def iproute_in(path: str) -> Iterator[tuple[object, int]]:
    """A netlink socket living in `path`'s namespace, plus an fd of that namespace.

    The thread enters only to create the socket; everything after runs from home.
    """
    from pyroute2 import IPRoute

    fd = open_netns(path)
    try:
        with in_netns(path):
            ipr = IPRoute()
        with ipr:
            yield ipr, fd
    finally:
        os.close(fd)

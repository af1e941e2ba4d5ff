"""Which network namespaces exist: the names under /run/netns, and the host's own.

A namespace is known by the (st_dev, st_ino) of its nsfs file, not by its name: a
name can be removed and made again for a new namespace, and two names can point at
the same one. Listing only stats files; it never enters a namespace.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

NETNS_DIR = "/run/netns"
HOST = "host"
HOST_PATH = "/proc/self/ns/net"  # the namespace of the process (its main thread)

NetnsKey = tuple[int, int]


@dataclass(frozen=True)
class NetnsRef:
    name: str  # cnilab-node1, or "host"
    path: str  # /run/netns/cnilab-node1
    key: NetnsKey  # (st_dev, st_ino) of the namespace


@dataclass(frozen=True)
class NetnsScan:
    refs: tuple[NetnsRef, ...]
    unmounted: tuple[str, ...]  # names whose file exists but holds no namespace (yet)


def key_of(st: os.stat_result) -> NetnsKey:
    return (st.st_dev, st.st_ino)


def _nsfs_dev() -> int:
    return os.stat(HOST_PATH).st_dev


def host_netns() -> NetnsRef:
    return NetnsRef(HOST, HOST_PATH, key_of(os.stat(HOST_PATH)))


def scan_netns(
    netns_dir: str = NETNS_DIR, wanted: Callable[[str], bool] | None = None
) -> NetnsScan:
    """Named namespaces, sorted by name; a namespace with two names is listed once.
    `wanted(name)`: only those names are looked at (others' namespaces cost no stat).

    `ip netns add` creates the file first and mounts the namespace on it next: such
    a file shows up in `unmounted` until the mount is there.
    """
    try:
        names = sorted(filter(wanted, os.listdir(netns_dir)))
    except FileNotFoundError:
        return NetnsScan((), ())
    nsfs = _nsfs_dev()
    refs: dict[NetnsKey, NetnsRef] = {}
    unmounted = []
    for name in names:
        path = os.path.join(netns_dir, name)
        try:
            st = os.stat(path)
        except OSError:  # removed while listing
            continue
        if st.st_dev != nsfs:
            unmounted.append(name)
            continue
        refs.setdefault(key_of(st), NetnsRef(name, path, key_of(st)))
    return NetnsScan(tuple(refs.values()), tuple(unmounted))


def open_if_same(ref: NetnsRef) -> int | None:
    """An fd of `ref`'s namespace, or None if its name now points elsewhere (or nowhere)."""
    try:
        fd = os.open(ref.path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    if key_of(os.fstat(fd)) != ref.key:
        os.close(fd)
        return None
    return fd

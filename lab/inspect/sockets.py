"""Per-namespace netlink sockets: opened once, kept, and closed when the namespace goes.

How a socket is opened (measured on bench/inspect_snapshot.py's 2 nodes x 100 pods,
202 namespaces, 2 CPUs, pyroute2 0.9.7):

- `IPRoute(netns=name)` forks a helper per namespace: 15-30 ms each, 3-6 s for all.
- An `IPRoute()` made in a helper thread that entered the namespace is *wrong* when
  used from another thread: pyroute2 0.9 keeps the socket and event loop per thread,
  so the owner thread silently gets a fresh socket in *its own* namespace (a trial
  read the host's links through it).
- `IPRoute()` made in the owner thread while it sits in the namespace (`in_netns`)
  works, 150 ms to open all, but moves a caller thread, and costs 4 fds a namespace
  (socket, epoll, self-pipe pair).
- A raw socket made in a helper thread, then `IPRoute(fileno=...)` in the owner
  thread: correct, 170 ms to open all, also 4 fds a namespace; the same link, address,
  route and neighbour dumps through these IPRoute objects took 1.3 s, 0.7 s through
  raw sockets and pyroute2's parser.
- Chosen: a raw `socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE)` made by one short-lived
  helper thread that enters each namespace in turn (`in_netns`, which returns in
  `finally`), spoken to with requests pyroute2 encodes once and replies decoded by hand
  (netlink.py, decode.py): 15-25 ms to open all 202, one fd each, no event loop and no
  thread binding (a socket belongs to the namespace it was made in, whichever thread
  reads it). Figures at 2 x 250 pods: docs/graph.md.

Caveat: an open socket holds a reference on its namespace. A namespace removed from
/run/netns lives on, with its veths, until the pool closes its socket on the next
`sync` (the Watcher does that at once, on inotify).
"""

from __future__ import annotations

import os
import selectors
import threading
from collections.abc import Callable, Iterable

from lab.inspect.namespaces import NetnsKey, NetnsRef, key_of
from lab.inspect.netlink import RouteSocket
from lab.inspect.nft import MASQUERADE, NETLINK_NETFILTER, NetfilterSocket
from lab.kernel.netns import NetnsNotFound, in_netns
from lab.kernel.rtnl import netlink_socket

Opened = dict[NetnsKey, tuple[RouteSocket, NetfilterSocket | None]]


def open_sockets(
    refs: Iterable[NetnsRef], netfilter: Callable[[NetnsRef], bool] = lambda ref: False
) -> Opened:
    """One route socket per namespace (and a netfilter one where `netfilter(ref)`), made
    in a helper thread that enters each in turn.

    No thread of the caller changes namespace. A namespace that vanished (or whose
    name now points at another one) since it was listed is skipped.
    """
    todo = list(refs)
    made: dict[NetnsKey, object] = {}
    nft: dict[NetnsKey, object] = {}
    failed: list[BaseException] = []

    def work() -> None:
        for ref in todo:
            try:
                with in_netns(ref.path):
                    if key_of(os.stat("/proc/thread-self/ns/net")) != ref.key:
                        continue
                    made[ref.key] = netlink_socket()
                    if netfilter(ref):
                        nft[ref.key] = netlink_socket(NETLINK_NETFILTER)
            except NetnsNotFound:
                continue
            except BaseException as e:
                failed.append(e)
                return

    if not todo:
        return {}
    helper = threading.Thread(target=work, name="cnilab-inspect-open", daemon=True)
    helper.start()
    helper.join()
    if failed:
        for sock in [*made.values(), *nft.values()]:
            sock.close()  # type: ignore[attr-defined]
        raise failed[0]
    return {
        key: (
            RouteSocket(sock),  # type: ignore[arg-type]
            NetfilterSocket(nft[key]) if key in nft else None,  # type: ignore[arg-type]
        )
        for key, sock in made.items()
    }


class SocketPool:
    """The sockets of the namespaces being inspected, keyed by namespace identity."""

    def __init__(self) -> None:
        self._socks: dict[NetnsKey, RouteSocket] = {}
        self._nft: dict[NetnsKey, NetfilterSocket] = {}
        self._selector: selectors.BaseSelector | None = None

    def __contains__(self, key: NetnsKey) -> bool:
        return key in self._socks

    def __len__(self) -> int:
        return len(self._socks)

    def get(self, key: NetnsKey) -> RouteSocket:
        return self._socks[key]

    def netfilter(self, key: NetnsKey) -> NetfilterSocket | None:
        return self._nft.get(key)

    def sync(
        self, refs: Iterable[NetnsRef], netfilter: Callable[[NetnsRef], bool] = lambda ref: False
    ) -> tuple[set[NetnsKey], set[NetnsKey]]:
        """Open sockets for new namespaces, close those of vanished ones: (added, removed).

        `netfilter(ref)`: whether a new namespace also gets a netfilter socket (its
        masquerade rules are read and followed)."""
        refs = list(refs)
        wanted = {ref.key for ref in refs}
        removed = set(self._socks) - wanted
        for key in removed:
            self._drop(key)
        opened = open_sockets((ref for ref in refs if ref.key not in self._socks), netfilter)
        for key, (sock, nft) in opened.items():
            self._socks[key] = sock
            if nft is not None:
                self._nft[key] = nft
            if self._selector is not None:
                self._watch(key)
        return set(opened), removed

    def _watch(self, key: NetnsKey) -> None:
        assert self._selector is not None
        for sock in (self._socks[key], self._nft.get(key)):
            if sock is not None:
                sock.listen()
                self._selector.register(sock.fileno(), selectors.EVENT_READ, key)

    def listen(self) -> None:
        """Subscribe every socket (and every later one) to change notifications."""
        if self._selector is not None:
            return
        self._selector = selectors.DefaultSelector()
        for key in self._socks:
            self._watch(key)

    def add_reader(self, fd: int) -> None:
        """Let `wait` also wake up when `fd` (an inotify or a pipe) is readable."""
        if self._selector is None:
            raise RuntimeError("listen() first")
        self._selector.register(fd, selectors.EVENT_READ, None)

    def remove_reader(self, fd: int) -> None:
        if self._selector is not None:
            self._selector.unregister(fd)

    def wait(self, timeout: float | None) -> tuple[dict[NetnsKey, frozenset[str]], set[int]]:
        """Namespaces that changed, each with what changed there (notifications drained:
        links, addresses, routes, neighbours, fdb, masquerade), and the extra fds that
        are readable."""
        if self._selector is None:
            raise RuntimeError("listen() first")
        keys = {key for key, sock in self._socks.items() if sock.events}
        keys |= {key for key, sock in self._nft.items() if sock.events}
        ready: set[int] = set()
        for selkey, _ in self._selector.select(0 if keys else timeout):
            if selkey.data is None:
                ready.add(selkey.fd)
            else:
                keys.add(selkey.data)
        changed: dict[NetnsKey, frozenset[str]] = {}
        for key in keys:
            about = self._socks[key].drain()
            if key in self._nft and self._nft[key].drain():
                about |= {MASQUERADE}
            if about:
                changed[key] = about
        return changed, ready

    def close(self) -> None:
        for key in list(self._socks):
            self._drop(key)
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def _drop(self, key: NetnsKey) -> None:
        for sock in (self._socks.pop(key), self._nft.pop(key, None)):
            if sock is None:
                continue
            if self._selector is not None:
                self._selector.unregister(sock.fileno())
            sock.close()

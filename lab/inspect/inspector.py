"""The inspector: every lab namespace, read through its own socket, as one Snapshot.

    with Inspector(load_plan()) as inspector:
        snap = inspector.snapshot()
        print(snap.to_json())

Which namespaces: with a plan, its node, underlay and internet namespaces and every
`<prefix>-*` one (pods); without, every `cnilab-*` one; `all_netns=True` takes every
name under /run/netns, `select(name)` those it returns True for (a node agent's
node and pods), and `include_host=True` adds the process's own namespace (read,
like every other, never changed).

Threads: an Inspector may be used from any thread, one call at a time (a lock
serializes them); its sockets never move a thread. Long-lived programs should not
share it between request threads anyway: run a `Watcher` and read the snapshots it
publishes. Close it (or use `with`): its sockets hold their namespaces alive.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping

from pyroute2.netlink.exceptions import NetlinkError

from lab.cluster.plan import Plan
from lab.inspect.dump import NamespaceDump
from lab.inspect.graph import GraphBuilder, NamespaceView, Snapshot
from lab.inspect.namespaces import (
    HOST,
    HOST_PATH,
    NETNS_DIR,
    NetnsKey,
    NetnsRef,
    host_netns,
    open_if_same,
    scan_netns,
)
from lab.inspect.owners import NODE, Owner, Owners, PodRecords
from lab.inspect.peers import VethPeers
from lab.inspect.read import read_namespace
from lab.inspect.sockets import SocketPool

log = logging.getLogger(__name__)


class Inspector:
    def __init__(
        self,
        plan: Plan | None = None,
        *,
        include_host: bool = False,
        all_netns: bool = False,
        netns_dir: str = NETNS_DIR,
        select: Callable[[str], bool] | None = None,
    ) -> None:
        self.plan = plan
        self.include_host = include_host
        self.all_netns = all_netns
        self.select = select
        self.netns_dir = netns_dir
        self._pool = SocketPool()
        self._refs: dict[NetnsKey, NetnsRef] = {}
        self._dumps: dict[NetnsKey, NamespaceDump] = {}
        self._nsids: dict[NetnsKey, dict[NetnsKey, int]] = {}  # here -> there -> its id
        self._no_nsid: dict[NetnsKey, set[NetnsKey]] = {}  # here -> those it gave no id
        self._owners = Owners(plan)
        self._records = PodRecords()
        self._builder = GraphBuilder()
        self._peers = VethPeers()
        self._views: dict[NetnsKey, NamespaceView] = {}
        self._seq = 0
        self._last: Snapshot | None = None
        self._lock = threading.RLock()
        self._closed = False

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> int:
        """Find the namespaces and open a socket in each new one; how many are open."""
        with self._lock:
            self._scan()
            return len(self._refs)

    def snapshot(self) -> Snapshot:
        """Read every namespace again, into a new snapshot."""
        return self.refresh(None, force=True)

    def refresh(
        self,
        changed: Mapping[NetnsKey, Collection[str]] | Iterable[NetnsKey] | None = None,
        force: bool = False,
        rescan: bool = True,
    ) -> Snapshot:
        """Rescan, re-read the `changed` namespaces (and new ones) and rebuild the graph.

        `None` re-reads every namespace. A mapping tells, for each namespace, what its
        notifications were about (what `wait_events` returns): only that is read again.
        `rescan=False` skips looking for namespaces and pod records that came or went
        (a watcher knows when none did). Unless `force`, when nothing differs from the
        last snapshot, that same snapshot (same `seq`) is returned.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the inspector is closed")
            started = time.perf_counter()
            refs, records = self._refs, self._owners.records
            scanned = rescan or not self._refs
            added = self._scan() if scanned else set()
            dirty = self._refs != refs or self._owners.records != records
            kinds = changed if isinstance(changed, Mapping) else {}
            todo = set(self._refs) if changed is None else set(changed) | added
            todo |= set(self._refs) - set(self._dumps)
            read: set[NetnsKey] = set()  # dumps that changed
            recheck: set[NetnsKey] = set()  # namespaces that may have numbered others
            for key in todo & set(self._refs):
                dump = self._read(key, None if key in added else kinds.get(key))
                old = self._dumps.get(key)
                if dump != old:  # an equal one stays: the graph reuses its part
                    self._dumps[key] = dump
                    read.add(key)
                    dirty = True
                if old is None or self._new_nsids(key, dump):
                    self._no_nsid.pop(key, None)  # a new veth there may have numbered them
                    recheck.add(key)
            if not (dirty or force) and self._last is not None:
                return self._last
            peers = self._peers.resolve(self._dumps, self._nsid_of, recheck)
            nodes, edges = self._builder.build(self._views_of(read, scanned), peers)
            self._seq += 1
            took = time.perf_counter() - started
            self._last = Snapshot(self._seq, time.time(), took, nodes, edges)
            return self._last

    def close(self) -> None:
        with self._lock:
            self._pool.close()
            self._refs.clear()
            self._dumps.clear()
            self._nsids.clear()
            self._no_nsid.clear()
            self._builder = GraphBuilder()
            self._peers = VethPeers()
            self._views.clear()
            self._last = None
            self._closed = True

    # What a Watcher needs: notifications and the places to watch.

    def listen(self) -> None:
        with self._lock:
            self._pool.listen()

    def wait_events(self, timeout: float | None) -> tuple[dict[NetnsKey, frozenset[str]], set[int]]:
        """Block until a namespace reports a change or an added reader is readable: the
        namespaces that changed with what changed there, and the readable readers."""
        with self._lock:
            return self._pool.wait(timeout)

    def add_reader(self, fd: int) -> None:
        with self._lock:
            self._pool.add_reader(fd)

    def remove_reader(self, fd: int) -> None:
        with self._lock:
            self._pool.remove_reader(fd)

    def keys(self) -> set[NetnsKey]:
        """The namespaces being inspected."""
        with self._lock:
            return set(self._refs)

    def watch_dirs(self) -> list[str]:
        dirs = [self.netns_dir]
        if self.plan:
            dirs.append(self.plan.pods_dir)
        return dirs

    def wants(self, name: str) -> bool:
        """Whether a namespace of this name (under netns_dir) is inspected."""
        return self._wanted(name)

    def fingerprint(self) -> tuple:
        """Cheap to compute; differs when a namespace inspected (or a pod record) came
        or went."""
        scan = scan_netns(self.netns_dir, self._wanted)
        records: list[tuple[str, int]] = []
        if self.plan:
            try:
                with os.scandir(self.plan.pods_dir) as it:
                    records = sorted((e.name, e.stat().st_mtime_ns) for e in it)
            except FileNotFoundError:
                pass
        return scan, tuple(records)

    # Internals

    def _scan(self) -> set[NetnsKey]:
        if self.plan:
            self._owners = Owners(self.plan, self._records.read(self.plan.pods_dir))
        refs = list(scan_netns(self.netns_dir, self._wanted).refs)
        if self.include_host:
            host = host_netns()
            refs = [host, *(r for r in refs if r.key != host.key)]
        added, removed = self._pool.sync(refs, netfilter=lambda r: self._owner(r).kind == NODE)
        self._refs = {r.key: r for r in refs if r.key in self._pool}
        for key in removed:
            self._dumps.pop(key, None)
        if removed:
            self._nsids = {
                here: {t: nsid for t, nsid in ids.items() if t not in removed}
                for here, ids in self._nsids.items()
                if here not in removed
            }
            self._no_nsid = {k: v - removed for k, v in self._no_nsid.items() if k not in removed}
        return added

    def _views_of(self, read: set[NetnsKey], rescanned: bool) -> list[NamespaceView]:
        """Every namespace's view, the same object as before where nothing changed (the
        graph builder compares them by identity). Owners only change on a rescan."""
        views: dict[NetnsKey, NamespaceView] = {}
        for key, ref in self._refs.items():
            old = self._views.get(key)
            if old is not None and key not in read and not rescanned:
                views[key] = old
                continue
            view = NamespaceView(ref, self._owner(ref), self._dumps[key])
            same = old is not None and old.dump is view.dump
            views[key] = old if same and (old.ref, old.owner) == (ref, view.owner) else view
        self._views = views
        return list(views.values())

    def _wanted(self, name: str) -> bool:
        if self.select is not None:
            return self.select(name)
        return self.all_netns or self._owners.is_lab(name)

    def _owner(self, ref: NetnsRef) -> Owner:
        return self._owners.owner(ref.name, is_host=ref.name == HOST and ref.path == HOST_PATH)

    def _read(self, key: NetnsKey, kinds: Collection[str] | None = None) -> NamespaceDump:
        try:
            sock, nft = self._pool.get(key), self._pool.netfilter(key)
            return read_namespace(sock, nft, kinds, self._dumps.get(key))
        except (OSError, NetlinkError) as e:
            log.warning("reading namespace %r failed: %s", self._refs[key].name, e)
            return NamespaceDump(error=f"read failed: {e}")

    def _new_nsids(self, here: NetnsKey, dump: NamespaceDump) -> bool:
        """Whether a veth of `here` names a namespace id not matched to a namespace yet
        (then the namespaces it gave none may have one now: ask them again)."""
        ids = {i.link_netnsid for i in dump.interfaces if i.link_netnsid is not None}
        known = set(self._nsids.get(here, {}).values())
        return not ids <= known

    def _nsid_of(self, here: NetnsKey, there: NetnsKey) -> int | None:
        """The id namespace `here` gives namespace `there`.

        Cached: an id stays while both namespaces live (our sockets keep them alive);
        "none" stays until `here` is read again.
        """
        if there in (ids := self._nsids.get(here, {})):
            return ids[there]
        if there in self._no_nsid.get(here, ()):
            return None
        fd = open_if_same(self._refs[there]) if there in self._refs else None
        if fd is None:
            return None
        try:
            nsid = self._pool.get(here).get_nsid(fd)
        except (OSError, NetlinkError):
            return None
        finally:
            os.close(fd)
        if nsid is None:
            self._no_nsid.setdefault(here, set()).add(there)
        else:
            self._nsids.setdefault(here, {})[there] = nsid
        return nsid

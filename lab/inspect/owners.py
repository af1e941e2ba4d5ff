"""Who a namespace belongs to: a lab node, the underlay, the "internet", a pod, the host.

With a plan the answer comes from it (node namespaces, `underlay_netns`,
`internet_netns`) and from the runtime's pod records, `<plan.pods_dir>/<pod>.json`:
{"name", "node", "container_id", "netns", "attachments": [{"ifname", "network"}],
"created"}. Without a plan, names decide: `cnilab-node<N>`, `cnilab-underlay`,
`cnilab-internet`, any other `cnilab-<pod>` is a pod.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from lab.cluster.plan import DEFAULT_PREFIX, Plan

NODE = "node"
POD = "pod"
UNDERLAY = "underlay"
INTERNET = "internet"
HOST = "host"
OTHER = "other"


@dataclass(frozen=True)
class Attachment:
    ifname: str
    network: str


@dataclass(frozen=True)
class PodRecord:
    name: str
    node: str
    container_id: str
    netns: str  # the namespace's name (a path in the record is reduced to its name)
    attachments: tuple[Attachment, ...] = ()
    created: float | str = ""  # as the runtime wrote it


@dataclass(frozen=True)
class Owner:
    kind: str  # node, pod, underlay, internet, host, other
    node: str = ""  # node1 for a node namespace, and for a pod the node it runs on
    pod: PodRecord | None = None
    label: str = ""  # node1, web, underlay, ...: what a picture should print


def _read_record(path: str) -> PodRecord | None:
    try:
        with open(path) as f:
            d = json.load(f)
        return PodRecord(
            name=str(d["name"]),
            node=str(d.get("node", "")),
            container_id=str(d.get("container_id", "")),
            netns=os.path.basename(str(d["netns"])),
            attachments=tuple(
                Attachment(str(a.get("ifname", "")), str(a.get("network", "")))
                for a in d.get("attachments", ())
            ),
            created=d.get("created", ""),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class PodRecords:
    """The pod records of a folder, read again only when a file's stat changes (at 500
    pods, parsing every record on every refresh cost more than reading the kernel)."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple[int, int, int], PodRecord | None]] = {}

    def read(self, pods_dir: str) -> dict[str, PodRecord]:
        """Pod records by namespace name; unreadable or half-written files are skipped."""
        try:
            with os.scandir(pods_dir) as it:
                entries = sorted((e for e in it if e.name.endswith(".json")), key=lambda e: e.name)
                stats = {}
                for e in entries:
                    try:
                        st = e.stat()
                    except OSError:  # removed while listing
                        continue
                    stats[e.path] = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stats = {}
        files = {}
        for path, stamp in stats.items():
            known = self._files.get(path)
            files[path] = known if known and known[0] == stamp else (stamp, _read_record(path))
        self._files = files
        return {r.netns: r for _, r in files.values() if r is not None}


def read_pod_records(pods_dir: str) -> dict[str, PodRecord]:
    """Pod records by namespace name; unreadable or half-written files are skipped."""
    return PodRecords().read(pods_dir)


class Owners:
    """Classifies namespace names for one plan (or none) and one set of pod records."""

    def __init__(self, plan: Plan | None, records: dict[str, PodRecord] | None = None) -> None:
        self.plan = plan
        self.prefix = (plan.prefix if plan else DEFAULT_PREFIX) + "-"
        self.records = records or {}
        self._lab: dict[str, Owner] = {}
        if plan:
            for node in plan.nodes:
                self._lab[node.netns] = Owner(NODE, node=node.name, label=node.name)
            if plan.underlay_netns:
                self._lab[plan.underlay_netns] = Owner(UNDERLAY, label=UNDERLAY)
            if plan.internet_netns:
                self._lab[plan.internet_netns] = Owner(INTERNET, label=INTERNET)

    def is_lab(self, name: str) -> bool:
        """True for the lab's own namespaces and its pods (what is inspected by default)."""
        return name in self._lab or name in self.records or name.startswith(self.prefix)

    def owner(self, name: str, is_host: bool = False) -> Owner:
        if is_host:
            return Owner(HOST, label=HOST)
        if name in self._lab:
            return self._lab[name]
        record = self.records.get(name)
        if record:
            return Owner(POD, node=record.node, pod=record, label=record.name)
        if not name.startswith(self.prefix):
            return Owner(OTHER, label=name)
        rest = name[len(self.prefix) :]
        if self.plan is None:
            if m := re.fullmatch(r"node\d+", rest):
                return Owner(NODE, node=m.group(0), label=rest)
            if rest in (UNDERLAY, INTERNET):
                return Owner(rest, label=rest)
        return Owner(POD, label=rest)  # a pod without a record (yet): its name only

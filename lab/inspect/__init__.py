"""The inspector: a read-only netlink snapshot of every lab namespace, as a graph.

`Inspector(plan).snapshot()` reads once; `Watcher(inspector)` keeps reading what
changes and publishes snapshots for the web app. See inspector.py and watch.py.
"""

from lab.inspect.graph import Snapshot, SnapshotDiff, if_id, ns_id
from lab.inspect.inspector import Inspector
from lab.inspect.watch import Watcher

__all__ = ["Inspector", "Snapshot", "SnapshotDiff", "Watcher", "if_id", "ns_id"]

"""Leaving the lab as a check found it: its pods, and the links it made on the nodes.

A student's DEL may fail (that is often the lesson), so a pod the check made is
removed the hard way when DEL does not work: its namespace (which takes the veth pair
with it) and its record. Links that appeared on a node during the check and belong to
no pod still there (a bridge of a by-hand call, a veth pair left whole in the node)
are deleted too.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from lab.cluster.plan import Plan
from lab.kernel.netns import delete_netns
from lab.runtime.pods import PodError, Runtime


def remove_pod(runtime: Runtime, name: str) -> None:
    """DEL through the runtime; if that fails, remove the namespace and the record."""
    try:
        pod = runtime.get(name)
    except PodError:
        return
    if pod is None:
        return
    try:
        runtime.delete(name)
    except PodError:
        delete_netns(pod.netns)
        Path(runtime.plan.pods_dir, f"{name}.json").unlink(missing_ok=True)


def _ip(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "--", "ip", *argv],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def _links(netns: str) -> list[dict[str, Any]]:
    try:
        found = json.loads(_ip(netns, "-j", "-d", "link").stdout or "[]")
    except ValueError:
        return []
    return found if isinstance(found, list) else []


class NodeLinks:
    """The links of each node before the check, to remove the ones it added."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.before: dict[str, set[str]] = {}

    def snapshot(self) -> None:
        self.before = {n.netns: {x["ifname"] for x in _links(n.netns)} for n in self.plan.nodes}

    def remove_new(self, settle: float = 2.0) -> list[str]:
        """Delete what the check added. A veth whose pod namespace was just deleted lingers
        a moment, still paired: wait (up to `settle` s) until the new links left stop
        changing; a kept pod's veth stays, and its bridge with it."""
        removed: list[str] = []
        for netns, before in self.before.items():
            deadline, left, stable_since = time.monotonic() + settle, None, time.monotonic()
            while True:
                removed += self._remove_once(netns, before)
                now_left = {x.get("ifname") for x in _links(netns)} - before
                if not now_left:
                    break
                if now_left != left:
                    left, stable_since = now_left, time.monotonic()
                elif time.monotonic() - stable_since > 0.3 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        return removed

    @staticmethod
    def _remove_once(netns: str, before: set[str]) -> list[str]:
        links = _links(netns)
        masters = {x.get("master") for x in links}
        removed = []
        for link in links:
            name = link.get("ifname", "")
            if not name or name in before or name in masters:
                continue  # the lab's own, or a bridge with a port (maybe a kept pod's)
            if "link_netnsid" in link:
                continue  # a veth whose peer is in a pod that is still there
            if _ip(netns, "link", "del", name).returncode == 0:
                removed.append(f"{netns}/{name}")
        return removed

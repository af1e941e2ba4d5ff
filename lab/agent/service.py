"""One node agent's work, without HTTP: its snapshots, and the trace phases on its node.

The inspector's watcher thread owns the netlink sockets and publishes snapshots;
requests only read them. Every kernel touch made for a request (packet sockets,
the probe, a route lookup) happens in a throw-away thread inside the namespace
(lab.kernel.netns.run_in_netns): no request thread ever changes namespace.
Request bodies are validated here; a bad one raises AgentInputError (400). A probe
goes only from this node's namespaces to lab addresses (reach.py), checked at arm and
again at send. The HTTP layer adds the clock readings every answer carries.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from lab.agent.captures import DEFAULT_TTL, CaptureError, Captures
from lab.agent.reach import LabReach, OutsideLab
from lab.agent.scope import NodeScope, ScopeError
from lab.agent.tag import tag_snapshot
from lab.agent.wire import facts_to_dict, frame_to_dict
from lab.inspect import Inspector, Snapshot, Watcher
from lab.trace.diagnose import ask_here, default_gateway_here
from lab.trace.facts import facts_of
from lab.trace.probe import Probe
from lab.trace.tracer import MAX_TIMEOUT

log = logging.getLogger(__name__)
FIRST_SNAPSHOT_WAIT = 10.0
MAX_WAIT = 30.0
QUESTIONS = ("route", "default-gateway")


class AgentInputError(ValueError):
    """A request the agent cannot act on; the message says which field is wrong."""


def _number(body: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise AgentInputError(f"{key!r} must be a number from {low:g} to {high:g}")
    return float(value)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise AgentInputError(f"{key!r} must be a non-empty string")
    return value


class Agent:
    def __init__(
        self, scope: NodeScope, max_captures: int | None = None, reach: LabReach | None = None
    ) -> None:
        self.scope = scope
        self.reach = reach or LabReach()
        self.inspector = Inspector(include_host=scope.netns is None, select=scope.selects)
        self.watcher = Watcher(self.inspector)
        self.captures = Captures() if max_captures is None else Captures(max_captures)
        self._cache: tuple[int, bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> Agent:
        self.watcher.start()
        return self

    def close(self) -> None:
        self.captures.close()
        self.watcher.stop()
        self.inspector.close()

    # Snapshots

    def snapshot(self, after: int = 0, wait: float | None = None) -> tuple[int, bytes] | None:
        """(seq, the tagged snapshot as JSON), newer than `after`, waiting up to `wait`
        seconds for one; None if none came."""
        latest = self.watcher.latest
        if wait is None:
            wait = FIRST_SNAPSHOT_WAIT if latest is None else 0.0
        if latest is not None and after > latest.seq:
            after = 0  # the client counted on an earlier run of this agent: start again
        snap = self.watcher.wait(after, min(wait, MAX_WAIT))
        return (snap.seq, self._json(snap)) if snap is not None else None

    def _json(self, snap: Snapshot) -> bytes:
        with self._lock:
            if self._cache is not None and self._cache[0] == snap.seq:
                return self._cache[1]
        body = json.dumps(tag_snapshot(snap.to_dict(), self.scope)).encode()
        with self._lock:
            self._cache = (snap.seq, body)
        return body

    def info(self) -> dict[str, Any]:
        latest = self.watcher.latest
        return {
            "node": self.scope.node,
            "netns": self.scope.qualify(self.scope.node_netns),
            "namespaces": [self.scope.qualify(n) for n in self.scope.namespaces_now()],
            "seq": latest.seq if latest else 0,
            "captures": len(self.captures),
            "watcher_error": str(self.watcher.error) if self.watcher.error else "",
        }

    # Trace phases

    def arm(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            probe = Probe.from_marker(body.get("probe"))
        except ValueError as e:
            raise AgentInputError(f"probe: {e}") from None
        self._allow(probe)
        ttl = _number(body, "ttl", DEFAULT_TTL, 0.1, 60)
        local = self.scope.namespaces_now()
        try:
            cid = self.captures.arm([self.scope.where(n) for n in local], probe, ttl)
        except OSError as e:  # a namespace went away while the sockets were opening
            raise CaptureError(f"cannot open the sniffers: {e}", 409) from e
        return {
            "id": cid,
            "node": self.scope.node,
            "namespaces": [self.scope.qualify(n) for n in local],
            "expires_in": ttl,
        }

    def send(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        local = self._local(_text(body, "from"))
        try:
            sent_at = self.captures.send(cid, self.scope.where(local), self._allow)
        except OSError as e:
            raise CaptureError(f"cannot send from {local}: {e}", 409) from e
        return {"sent_at": sent_at}

    def collect(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        until_reply = body.get("until_reply", False)
        if not isinstance(until_reply, bool):
            raise AgentInputError("'until_reply' must be true or false")
        timeout = _number(body, "timeout", 1.0, 0, MAX_TIMEOUT + 1)
        got = self.captures.collect(cid, until_reply, timeout)
        where_seen = sorted({frame.netns for frame, _ in got.frames})
        named = {w: self.scope.qualify(self.scope.local_of_where(w)) for w in where_seen}
        return {
            "node": self.scope.node,
            "replied": got.replied,
            "sent_at": got.sent_at,
            "frames": [frame_to_dict(f, s, named[f.netns]) for f, s in got.frames],
            "namespaces": {named[w]: self._facts(w) for w in where_seen},
        }

    def cancel(self, cid: str) -> dict[str, Any]:
        return {"closed": self.captures.cancel(cid)}

    def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        """The diagnosis' questions (lab.trace.diagnose), put to this node's kernel."""
        local = self._local(_text(body, "netns"))
        try:
            dst = str(ipaddress.IPv4Address(body.get("dst")))
        except ValueError:
            raise AgentInputError("'dst' must be an IPv4 address") from None
        question = body.get("question")
        if question not in QUESTIONS:
            raise AgentInputError(f"'question' must be one of {', '.join(QUESTIONS)}")
        where = self.scope.where(local)
        if question == "route":
            label = body.get("label") or self.scope.label(local)
            answer: str | None = ask_here(where, dst, str(label))
        else:
            answer = default_gateway_here(where, dst)
        return {"answer": answer}

    def _allow(self, probe: Probe) -> None:
        try:
            self.reach.check(probe.dst)
        except OutsideLab as e:
            raise AgentInputError(f"probe: {e}") from None

    def _local(self, name: str) -> str:
        try:
            local = self.scope.local_of(name)
        except ScopeError as e:
            raise AgentInputError(str(e)) from None
        if local not in self.scope.namespaces_now():
            raise AgentInputError(f"no namespace {name!r} on {self.scope.node} now")
        return local

    def _facts(self, where: str) -> dict[str, Any]:
        label = self.scope.label(self.scope.local_of_where(where))
        try:
            return facts_to_dict(label, facts_of(where))
        except (OSError, NetlinkError) as e:  # gone since the frame was seen
            log.info("no facts for %s: %s", where, e)
            return facts_to_dict(label, ({}, set()))

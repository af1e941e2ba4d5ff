"""A troubleshooting step's scene: its pods, its hidden fault, and what it records.

`start_trouble` (the step's start.py) clears any earlier scene and repairs the nodes,
checks the lab is healthy, makes the step's pods (`t10-a`, `t10-b` on node1, one more
on every other node) with the lab's own plugin, then breaks one target of the step's
catalogue, chosen at random: neighbours get different answers, and starting again
never gives the fault just replaced.

What is written down (`<state dir>/trouble.json`) is the pods and, for the answer, a
salted HMAC of each of its prefixes (fault; fault|node; fault|node|object), so the
check can say which part is wrong. It keeps the answer from being read at a glance,
and no more: the lab runs as root, the salt is beside the digests and the catalogue is
small, so a student who wants to can try every answer against them. The check trusts
the digests for the diagnosis and the kernel, never the record, for the fix.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import random
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.cluster import build
from lab.cluster.plan import Plan
from lab.exercises.cleanup import remove_pod
from lab.exercises.fault_repair import remove_extra_pod_routes, remove_firewall
from lab.exercises.faults import Target, faults_of
from lab.exercises.health import ScenePod, state_findings, traffic_findings
from lab.exercises.start_hook import StartError
from lab.runtime.pods import PodError, Runtime

RECORD = "trouble.json"
STEPS = {"trouble-pods": "t10-", "trouble-cluster": "t15-"}  # slug -> its pods' prefix
Chooser = Callable[[list[Target]], Target]


class TroubleError(StartError):
    """The step cannot start: the lab is not one a fault can be hidden in."""


@dataclass
class Record:
    step: str
    salt: str
    digests: dict[str, str]
    scene: list[dict[str, str]] = field(default_factory=list)

    @property
    def pods(self) -> dict[str, str]:
        return {p["name"]: p["node"] for p in self.scene}

    def scene_pods(self) -> list[ScenePod]:
        return [ScenePod(**p) for p in self.scene]


def pod_prefix(step: str) -> str:
    return STEPS[step]


def _record_path(plan: Plan) -> Path:
    return Path(plan.state_dir) / RECORD


def read_record(plan: Plan) -> Record | None:
    try:
        data = json.loads(_record_path(plan).read_text())
        return Record(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _write_record(plan: Plan, record: Record) -> None:
    path = _record_path(plan)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(record), f, indent=2)
    os.replace(tmp, path)


# -- answers ---------------------------------------------------------------------------
PARTS = ("fault", "node", "object")


def canonical(value: str) -> str:
    """One spelling per answer: lower case, and a CIDR as its network (10.244.01.0/24)."""
    text = value.strip().lower()
    try:
        return str(ipaddress.ip_network(text)) if "/" in text else text
    except ValueError:
        return text


def digests(salt: str, answer: tuple[str, str, str]) -> dict[str, str]:
    """The HMAC of each prefix of the answer: fault; fault|node; fault|node|object."""
    out, parts = {}, []
    for name, value in zip(PARTS, answer, strict=True):
        parts.append(canonical(value))
        text = "|".join(parts).encode()
        out[name] = hmac.new(bytes.fromhex(salt), text, hashlib.sha256).hexdigest()
    return out


def first_wrong(record: Record, answer: dict[str, str]) -> str | None:
    """The first part of `answer` (fault, node, object) that is not the fault's, or None."""
    given = tuple(str(answer.get(p, "")) for p in PARTS)
    found = digests(record.salt, given)  # type: ignore[arg-type]
    for part in PARTS:
        if not hmac.compare_digest(found[part], record.digests[part]):
            return part
    return None


# -- the scene -----------------------------------------------------------------------------
def clear_trouble(plan: Plan) -> None:
    """Remove every troubleshooting step's pods and record, and repair the nodes as the
    lab builds them: whatever fault was hidden, none is left (each repair is idempotent)."""
    runtime = Runtime(plan)
    prefixes = tuple(STEPS.values())
    for pod in runtime.list():
        if pod.name.startswith(prefixes):
            remove_pod(runtime, pod.name)
    for node in plan.nodes:
        build.init_node(plan, node)  # routes replaced, forwarding on, masquerade re-made
        keep = {n.pod_cidr for n in plan.nodes}
        remove_extra_pod_routes(plan, node, keep)
        remove_firewall(node)
    _record_path(plan).unlink(missing_ok=True)


def _make_pods(plan: Plan, step: str) -> list[ScenePod]:
    runtime = Runtime(plan)
    first = plan.nodes[0].name
    where = [(first, "a"), (first, "b")]
    where += [(n.name, chr(ord("c") + i)) for i, n in enumerate(plan.nodes[1:])]
    made = []
    for node, letter in where:
        try:
            pod = runtime.add(pod_prefix(step) + letter, node)
        except PodError as e:
            raise TroubleError(f"the step's pods cannot be made: {e}") from e
        made.append(ScenePod(pod.name, node, pod.netns, pod.addresses()[0], pod.container_id))
    return made


def _previous_answer(record: Record | None, step: str, targets: list[Target]) -> Target | None:
    """The target the last start of this step hid (found by its digests)."""
    if record is None or record.step != step:
        return None
    for t in targets:
        if digests(record.salt, t.answer) == record.digests:
            return t
    return None


def start_trouble(plan: Plan, step: str, choose: Chooser | None = None) -> Target:
    """Hide one fault of `step`'s catalogue in the lab; returns it (for tests only)."""
    if step not in STEPS:
        raise TroubleError(f"{step!r} is not a troubleshooting step ({', '.join(STEPS)})")
    if plan.bare:
        raise TroubleError(
            f"this step needs the whole lab, and it was brought up with --bare "
            f"{','.join(sorted(plan.bare))}: `cnilab down`, then `cnilab up`"
        )
    previous = read_record(plan)
    clear_trouble(plan)
    try:
        return _stage(plan, step, previous, choose)
    except BaseException:
        clear_trouble(plan)
        raise


def _stage(plan: Plan, step: str, previous: Record | None, choose: Chooser | None) -> Target:
    rng = random.SystemRandom()
    pods = _make_pods(plan, step)
    healthy = state_findings(plan, pods, {p.name: p.container_id for p in pods})
    healthy = healthy or traffic_findings(plan, pods)
    if healthy:
        raise TroubleError(
            "the lab is not healthy, so a hidden fault could not be found again: "
            + "; ".join(healthy[:3])
            + " (`cnilab down`, then `cnilab up`)"
        )
    targets = [t for f in faults_of(step) for t in f.targets(plan, pods, rng)]
    before = _previous_answer(previous, step, targets)
    fresh = [t for t in targets if before is None or t.fault != before.fault] or targets
    target = choose(targets) if choose is not None else rng.choice(fresh)
    salt = secrets.token_hex(16)
    record = Record(step, salt, digests(salt, target.answer), [asdict(p) for p in pods])
    _write_record(plan, record)
    next(f for f in faults_of(step) if f.key == target.fault).inject(plan, pods, target)
    return target


def current_ids(plan: Plan, record: Record) -> dict[str, str | None]:
    """Each recorded pod's container ID now (None when it is gone)."""
    runtime = Runtime(plan)
    found: dict[str, str | None] = {}
    for name in record.pods:
        try:
            pod = runtime.get(name)
        except PodError:
            pod = None
        found[name] = pod.container_id if pod is not None else None
    return found

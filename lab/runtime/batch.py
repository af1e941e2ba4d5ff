"""Pods made in a batch for a demo: NAME-1 ... NAME-N, all or none.

Every name is checked before the first pod is made (a valid, unused name, no
namespace left over), so a bad name or count changes nothing; a pod whose ADD fails
takes the ones the batch made before it with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from lab.cluster.plan import PlanError, validate_pod_name
from lab.kernel.netns import list_netns
from lab.runtime.pods import Pod, PodError, Runtime

MAX_COUNT = 250  # a node's /24 holds 253 pods


def batch_names(name: str, count: int) -> list[str]:
    """NAME-1 ... NAME-count; PodError for a count out of range or a name that cannot be."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise PodError(f"count must be a whole number from 1 to {MAX_COUNT}, got {count!r}")
    names = [f"{name}-{i}" for i in range(1, count + 1)]
    try:
        for n in names:
            validate_pod_name(n)
    except PlanError as e:
        raise PodError(f"{e} (a batch names its pods {name}-1 ... {name}-{count})") from None
    return names


def check_free(runtime: Runtime, names: list[str]) -> None:
    """No pod of the batch may exist yet, nor its namespace (a batch only makes pods)."""
    taken = [n for n in names if runtime.get(n) is not None]
    if taken:
        raise PodError(f"pod {taken[0]!r} exists already: pick another name for the batch")
    present = set(list_netns())
    left = [n for n in names if runtime.plan.pod_netns(n) in present]
    if left:
        ns = runtime.plan.pod_netns(left[0])
        raise PodError(f"namespace {ns} already exists (left over?): `cnilab down`")


def add_batch(
    runtime: Runtime,
    name: str,
    count: int,
    add: Callable[[str], Pod] | None = None,
    **options: Any,
) -> list[Pod]:
    """Make the pods one after another with `runtime.add(pod, **options)` (or `add`).

    A failure removes what the batch made and raises PodError naming the pod that failed.
    """
    names = batch_names(name, count)
    check_free(runtime, names)
    made: list[Pod] = []
    make = add or (lambda n: runtime.add(n, **options))
    try:
        for n in names:
            made.append(make(n))
    except BaseException as e:
        for pod in reversed(made):
            with contextlib.suppress(PodError):
                runtime.delete(pod.name)
        if isinstance(e, PodError):
            kept = "" if not made else f"; the {len(made)} made before it were removed"
            raise PodError(f"batch {name}: {e}{kept}") from e
        raise
    return made

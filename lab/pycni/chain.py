"""Chaining: a plugin called with a prevResult must pass it on, extended (SPEC.md)."""

from __future__ import annotations

from lab.cni.result import Result


def extend_prev_result(prev: Result | None, mine: Result) -> Result:
    """prevResult's interfaces, IPs and routes first, ours after, indexes shifted to match."""
    if prev is None:
        return mine
    offset = len(prev.interfaces)
    for ipc in mine.ips:
        if ipc.interface is not None:
            ipc.interface += offset
    dns = mine.dns if not mine.dns.is_empty() else prev.dns
    return Result(
        cni_version=mine.cni_version,
        interfaces=[*prev.interfaces, *mine.interfaces],
        ips=[*prev.ips, *mine.ips],
        routes=[*prev.routes, *[r for r in mine.routes if r not in prev.routes]],
        dns=dns,
    )

"""Round-robin allocation policy, as host-local's: it decides, the Store remembers."""

from __future__ import annotations

from collections.abc import Iterator

from lab.cni.errors import CNIError, ErrorCode
from lab.cni.result import IPAddress, IPConfig
from lab.pycni.ipam.config import Range
from lab.pycni.ipam.store import Owner, Store


def candidates(range_set: list[Range], last: IPAddress | None) -> Iterator[tuple[Range, IPAddress]]:
    """Every address of the set once, starting just after `last` and wrapping around."""
    start_range, start_ip = 0, range_set[0].start
    for i, r in enumerate(range_set):
        if last is not None and last in r:
            start_range = i
            start_ip = last + 1 if last < r.end else None  # type: ignore[assignment]
            break
    order = range_set[start_range:] + range_set[:start_range]
    if start_ip is None:  # last was the final address of its range: begin at the next range
        order = order[1:] + order[:1]
        start_ip = order[0].start
    # the first range is walked from start_ip to its end, and again from its start at the end
    head = order[0]
    yield from ((head, ip) for ip in _span(start_ip, head.end))
    for r in order[1:]:
        yield from ((r, ip) for ip in _span(r.start, r.end))
    if start_ip > head.start:
        yield from ((head, ip) for ip in _span(head.start, start_ip - 1))


def _span(first: IPAddress, last: IPAddress) -> Iterator[IPAddress]:
    ip = first
    while ip <= last:
        yield ip
        ip = ip + 1


def allocate(store: Store, range_set: list[Range], range_id: int, owner: Owner) -> IPConfig:
    """Reserve the next free address of one range set for `owner` (already locked)."""
    for r, ip in candidates(range_set, store.last_reserved(range_id)):
        if ip == r.gateway:
            continue
        if store.reserve(owner, ip, range_id):
            return IPConfig(address=r.prefixed(ip), gateway=r.gateway)
    first, last = range_set[0], range_set[-1]
    raise CNIError(
        ErrorCode.TRY_AGAIN_LATER,
        f"no IP addresses available in range set {first.start}-{last.end}",
        "every address is reserved; delete pods or widen the range",
    )


def find_range(range_set: list[Range], ip: IPAddress) -> Range | None:
    return next((r for r in range_set if ip in r), None)


def has_free_address(store: Store, range_set: list[Range]) -> bool:
    taken = store.reservations()
    return any(ip != r.gateway and ip not in taken for r, ip in candidates(range_set, None))

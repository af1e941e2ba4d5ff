"""Put frames seen by several node agents into path order, without trusting their clocks.

One kernel's timestamps order the frames one node saw; across nodes the clocks may
differ by more than a hop takes. The path itself gives the order instead:

- every request frame comes before every reply frame (the reply exists only once the
  request arrived);
- within a leg, TTL only goes down: a higher TTL was seen earlier;
- at the same TTL (a packet crossing from one node to the next without being routed
  in between, e.g. node1's eth0 out, then node2's eth0 in, both at TTL 63), nodes are
  ranked: the one that saw the leg's highest TTL first; on a tie, the node the leg
  starts at (the request: the source pod's node; the reply: the node where the
  request ended); then the one whose first frame is earliest on the coordinator's
  clock (each agent's clock corrected by its estimated offset);
- within one node, its own kernel timestamps.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby

from lab.trace.capture import Frame
from lab.trace.hops import Hop, hop_of, settle_ties
from lab.trace.packets import REPLY, REQUEST, Seen


@dataclass(frozen=True)
class Sighting:
    agent: str  # the node whose agent saw it
    frame: Frame  # its time is on that agent's clock
    seen: Seen


def _order_leg(leg: list[Sighting], origin: str, offsets: dict[str, float]) -> list[Sighting]:
    by_agent: dict[str, list[Sighting]] = defaultdict(list)
    for s in leg:
        by_agent[s.agent].append(s)

    def rank_key(agent: str) -> tuple[int, int, float]:
        seen = by_agent[agent]
        first = min(s.frame.time for s in seen) - offsets.get(agent, 0.0)
        return (-max(s.seen.ttl for s in seen), agent != origin, first)

    rank = {agent: i for i, agent in enumerate(sorted(by_agent, key=rank_key))}
    ordered = sorted(leg, key=lambda s: (-s.seen.ttl, rank[s.agent], s.frame.time))
    # one agent's frames at one TTL are on one clock: settle its near ties causally
    by_pair = {(id(s.frame), id(s.seen)): s for s in ordered}
    settled: list[Sighting] = []
    for _, group in groupby(ordered, key=lambda s: (-s.seen.ttl, rank[s.agent])):
        pairs = settle_ties([(s.frame, s.seen) for s in group])
        settled.extend(by_pair[(id(f), id(seen))] for f, seen in pairs)
    return settled


def order_by_path(
    sightings: list[Sighting], src_agent: str, offsets: dict[str, float]
) -> list[Sighting]:
    """The request leg from `src_agent`, then the reply leg from where the request ended."""
    request = _order_leg([s for s in sightings if s.seen.leg == REQUEST], src_agent, offsets)
    reply_origin = request[-1].agent if request else src_agent
    reply = _order_leg([s for s in sightings if s.seen.leg == REPLY], reply_origin, offsets)
    return request + reply


def path_hops(
    sightings: list[Sighting], src_agent: str, sent_at: float, offsets: dict[str, float]
) -> list[Hop]:
    """Hops in path order. `ms` is on the source agent's clock (each agent's timestamps
    corrected by its offset) and never earlier than the hop before: an offset is only
    known to about half a round trip, which may exceed the time between two hops."""
    start = sent_at - offsets.get(src_agent, 0.0)
    hops, last = [], 0.0
    for s in order_by_path(sightings, src_agent, offsets):
        at = s.frame.time - offsets.get(s.agent, 0.0) - start
        last = max(last, round(max(at, 0.0) * 1000, 3))
        hops.append(hop_of(s.frame, s.seen, s.agent, last))
    return hops

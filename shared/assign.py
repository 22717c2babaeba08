"""Which live agent manages which NE: weighted rendezvous hashing with capacity, pins and
zones. Pure: the master calls it with the inventory and the live members and writes the
result; nothing here knows about sockets, clocks or the database.

Rendezvous (highest random weight) hashing gives each (NE, agent) pair a score; an NE goes
to the eligible agent with the highest score. When an agent leaves, only its NEs move
(every other NE's best agent is unchanged); when one joins, it wins about 1/N of the NEs.
Weights scale an agent's share (score = -weight / ln(u), u uniform in (0, 1), the
logarithmic method of Schindelhauer and Schomaker), capacities cap it: an NE whose best
agent is full goes to its next best, and NEs are placed in a fixed order (by their own
hash) so the same inputs always give the same table.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Member:
    """A live agent as the assigner sees it."""

    node_id: str
    weight: float = 1.0
    capacity: int | None = None  # NEs at most; None: no limit
    # Zones this agent can reach. An NE with a zone goes only to agents listing it; an NE
    # without a zone goes to any agent.
    zones: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Placement:
    """An NE as the assigner sees it."""

    ne: str
    zone: str = ""
    pin: str = ""  # node id it must go to while that agent is live and eligible


@dataclass(frozen=True, slots=True)
class Assignment:
    owners: dict[str, str]  # NE -> node id
    unplaced: dict[str, str] = field(default_factory=dict)  # NE -> why it has no owner

    def moved(self, previous: Mapping[str, str]) -> set[str]:
        """NEs whose owner differs from ``previous`` (new and dropped NEs excluded)."""
        return {ne for ne, owner in self.owners.items() if previous.get(ne, owner) != owner}

    def load(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for owner in self.owners.values():
            out[owner] = out.get(owner, 0) + 1
        return out


_SCALE = float(1 << 64)


def _unit(ne: str, node_id: str) -> float:
    """A uniform number in (0, 1) for the pair; stable across processes and versions."""
    h = hashlib.blake2b(f"{ne}\x00{node_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(h, "big") + 0.5) / _SCALE


def score(ne: str, member: Member) -> float:
    """Weighted rendezvous score; higher wins. Weight <= 0 never wins."""
    if member.weight <= 0:
        return -math.inf
    return -member.weight / math.log(_unit(ne, member.node_id))


def _order(ne: str) -> bytes:
    return hashlib.blake2b(ne.encode(), digest_size=8).digest()


def _eligible(p: Placement, m: Member) -> bool:
    return not p.zone or p.zone in m.zones


def assign(nes: Iterable[Placement], members: Iterable[Member]) -> Assignment:
    """Place every NE on one eligible live member, or say why it could not be placed."""
    live = sorted({m.node_id: m for m in members}.values(), key=lambda m: m.node_id)
    by_id = {m.node_id: m for m in live}
    room = {m.node_id: m.capacity if m.capacity is not None else math.inf for m in live}
    owners: dict[str, str] = {}
    unplaced: dict[str, str] = {}
    placements = sorted({p.ne: p for p in nes}.values(), key=lambda p: (_order(p.ne), p.ne))
    # Pins first, so a pinned NE is not crowded out of its agent by hashed ones.
    rest: list[Placement] = []
    for p in placements:
        pinned = by_id.get(p.pin) if p.pin else None
        if pinned is not None and _eligible(p, pinned) and room[pinned.node_id] > 0:
            owners[p.ne] = pinned.node_id
            room[pinned.node_id] -= 1
        else:
            rest.append(p)
    for p in rest:
        candidates = [m for m in live if _eligible(p, m) and m.weight > 0]
        if not candidates:
            unplaced[p.ne] = f"no live agent serves zone {p.zone!r}" if p.zone else "no live agent"
            continue
        ranked = sorted(candidates, key=lambda m: (score(p.ne, m), m.node_id), reverse=True)
        best = next((m for m in ranked if room[m.node_id] > 0), None)
        if best is None:
            unplaced[p.ne] = "every eligible agent is at capacity"
            continue
        owners[p.ne] = best.node_id
        room[best.node_id] -= 1
    return Assignment(owners, unplaced)

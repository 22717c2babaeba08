"""Pool-wide live events: per-origin sequence numbers, and the client side that notices
when it missed some.

Every event an agent publishes carries ``origin`` (its node id), ``run`` (an id of that
agent process, new at each start) and ``seq`` (1, 2, 3, ... within the run). Events reach a
client through whichever agent it is attached to, relayed from the others, so a client can
miss some: a slow subscriber (PUB drops at its high-water mark), a relay that restarted, a
reattach to another agent. ``FeedTracker`` sees each event's (origin, run, seq) and says
whether it is the next one, an old one (a duplicate through two paths), or follows a gap;
after a gap the client resynchronises with one federated query instead of drifting.

Pure: no clock, no sockets.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.StrEnum):
    NEXT = "next"  # in order: apply it
    FIRST = "first"  # the first event seen from this origin run: apply, and resync it once
    DUPLICATE = "duplicate"  # seen already: ignore it
    GAP = "gap"  # events were missed before this one: apply it and resynchronise
    RESTARTED = "restarted"  # the origin started again (new run): its memory was rebuilt


class FeedError(ValueError):
    """An event without a usable origin, run or sequence number."""


@dataclass(frozen=True, slots=True)
class Stamp:
    origin: str
    run: str
    seq: int

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Stamp:
        origin, run, seq = body.get("origin"), body.get("run"), body.get("seq")
        if not isinstance(origin, str) or not origin:
            raise FeedError("live event without an origin")
        if not isinstance(run, str) or not run:
            raise FeedError(f"live event from {origin} without a run id")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise FeedError(f"live event from {origin} with a bad sequence number {seq!r}")
        return cls(origin, run, seq)


@dataclass(slots=True)
class Sequencer:
    """The publishing side: stamps this agent's events in the order it publishes them."""

    origin: str
    run: str
    last: int = 0

    def stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        self.last += 1
        body["origin"] = self.origin
        body["run"] = self.run
        body["seq"] = self.last
        return body


@dataclass(slots=True)
class _Origin:
    run: str
    last: int


@dataclass(slots=True)
class FeedTracker:
    """The receiving side: the last sequence number seen per origin, and what was missed."""

    _origins: dict[str, _Origin] = field(default_factory=dict)
    missed: int = 0  # events known to be missed (gaps' widths)
    duplicates: int = 0

    def see(self, stamp: Stamp) -> Verdict:
        known = self._origins.get(stamp.origin)
        if known is None:
            self._origins[stamp.origin] = _Origin(stamp.run, stamp.seq)
            return Verdict.FIRST
        if known.run != stamp.run:
            self._origins[stamp.origin] = _Origin(stamp.run, stamp.seq)
            return Verdict.RESTARTED
        if stamp.seq <= known.last:
            self.duplicates += 1
            return Verdict.DUPLICATE
        expected = known.last + 1
        known.last = stamp.seq
        if stamp.seq == expected:
            return Verdict.NEXT
        self.missed += stamp.seq - expected
        return Verdict.GAP

    def judge(
        self, body: Mapping[str, Any], resynced: bool
    ) -> tuple[Verdict | None, Stamp | None, str]:
        """A live view's reading of one message: (verdict, stamp, why a resync is needed
        or ""). ``resynced``: the view has applied a snapshot and buffers nothing, so an
        origin heard for the first time since may have had events dropped unseen. No
        verdict and no stamp for a message without a usable stamp."""
        try:
            stamp = Stamp.of(body)
        except FeedError as e:
            return None, None, f"malformed event: {e}"
        verdict = self.see(stamp)
        why = ""
        if verdict is Verdict.GAP:
            why = f"missed events from {stamp.origin}"
        elif verdict is Verdict.RESTARTED:
            why = f"{stamp.origin} restarted"
        elif verdict is Verdict.FIRST and resynced:
            why = f"first event from {stamp.origin}"
        return verdict, stamp, why

    def forget(self, origin: str) -> None:
        """An origin left the pool (or the client resynchronised it from scratch)."""
        self._origins.pop(origin, None)

    def reset(self) -> None:
        """After a reattach: every origin is resynchronised from a federated query."""
        self._origins.clear()

    def position(self) -> dict[str, tuple[str, int]]:
        """origin -> (run, last seq): what a client has applied, e.g. for a status line."""
        return {o: (k.run, k.last) for o, k in self._origins.items()}

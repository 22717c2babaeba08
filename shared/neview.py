"""A client's view of the pool's live NE states and members, next to the alarm view
(shared/alarmview.py) and kept the same way: one federated snapshot, then the live events
(topics ``ne`` and ``agent``, shared/nefeed.py) the attached agent publishes and relays.

Every message goes through a ``FeedTracker``; a gap, an origin that restarted, a reattach or
an unusable stamp sets ``resync_needed``, and the caller then

1. ``begin_resync()`` while already subscribed (events from now on are buffered);
2. fetches ``pool.ne_states`` and ``pool.health`` (federated: every live member's memory);
3. ``apply_snapshot(states, health)``: NEs and members replaced, the buffer replayed.

Replaying is exact for the same reason as the alarm view's: an ``ne`` item *assigns* the
whole summary of its NE, and a ``members`` message the whole member set, in each origin's
order; an agent's ``managed`` message drops the NEs it no longer manages that no other
agent told since. Membership comes from the master only (shared/nefeed.py ``MemberWatch``); one of a
lower epoch than the view holds (a deposed master's) is ignored.

``on_event`` returns what a printer or a GUI shows: the NE items received and the members
that joined or left by this view's own reckoning (not the publisher's, so a new master's
first message or a resync tells only real changes).

Pure: no clock, no sockets, no Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .livefeed import FeedTracker, Verdict
from .wire import Topic


@dataclass(frozen=True, slots=True)
class Seen:
    """What one live message changed in the view."""

    nes: list[dict[str, Any]] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.nes or self.joined or self.left)


NOTHING = Seen()


@dataclass(slots=True)
class NeView:
    nes: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> pool.ne_states item
    members: list[str] = field(default_factory=list)
    master: str = ""
    epoch: int = 0
    tracker: FeedTracker = field(default_factory=FeedTracker)
    resync_needed: str = "no snapshot yet"
    missing: dict[str, str] = field(default_factory=dict)
    applied: int = 0  # NE items and member sets applied (replays included)
    resyncs: int = 0
    _buffer: list[tuple[str, dict[str, Any]]] | None = None
    _pending: str = ""

    @property
    def resyncing(self) -> bool:
        return self._buffer is not None

    def begin_resync(self) -> None:
        self._buffer = []
        self._pending = ""

    def reattached(self) -> None:
        self.tracker.reset()
        self._need("reattached to another agent")

    def apply_snapshot(
        self, states: Mapping[str, Any], health: Mapping[str, Any] | None = None
    ) -> Seen:
        """Replace the NEs with a ``pool.ne_states`` reply and the members with what the
        replies say (the master's live peers by ``pool.health``, else who answered), then
        replay the buffered events. Returns the members' changes it made."""
        items = states.get("items")
        if not isinstance(items, list):
            raise ValueError("pool.ne_states reply without items")
        self.nes = {str(d["name"]): dict(d) for d in items if isinstance(d, dict) and "name" in d}
        self.missing = {str(k): str(v) for k, v in dict(states.get("missing") or {}).items()}
        members, master, epoch = _members_of(states, health)
        before = set(self.members)
        if epoch >= self.epoch or not self.members:
            self.members, self.master, self.epoch = members, master or self.master, epoch
        seen = Seen(
            joined=sorted(set(self.members) - before), left=sorted(before - set(self.members))
        )
        buffered, self._buffer = self._buffer or [], None
        for topic, body in buffered:
            self._apply(topic, body)
        self.resyncs += 1
        self.resync_needed, self._pending = self._pending, ""
        return seen

    def on_event(self, topic: str, body: Mapping[str, Any]) -> Seen:
        """One published message (any topic: each origin numbers all of its messages)."""
        verdict, stamp, why = self.tracker.judge(body, self._buffer is None and bool(self.resyncs))
        if verdict is None or stamp is None:
            self._need(why)
            return NOTHING
        if verdict is Verdict.DUPLICATE:
            return NOTHING
        if why:
            self._need(why)
        if not _ours(topic, body):
            return NOTHING
        if self._buffer is not None:
            self._buffer.append((topic, dict(body)))
            return NOTHING
        return self._apply(topic, body)

    def _need(self, why: str) -> None:
        if self._buffer is not None:
            self._pending = self._pending or why
        elif not self.resync_needed:
            self.resync_needed = why

    def _apply(self, topic: str, body: Mapping[str, Any]) -> Seen:
        if topic == Topic.NE:
            items = [dict(d) for d in body.get("nes") or [] if isinstance(d, dict) and "name" in d]
            for d in items:
                self.nes[str(d["name"])] = d
            self.applied += len(items)
            return Seen(nes=items)
        if "managed" in body:
            # NEs the origin no longer manages: gone, unless another agent told them since
            # (a moved NE is told again by its new owner, first state first).
            origin = body.get("origin")
            keep = {str(n) for n in body.get("managed") or []}
            for name in [n for n, d in self.nes.items() if d.get("agent") == origin]:
                if name not in keep:
                    del self.nes[name]
            return NOTHING
        epoch = body.get("epoch")
        if not isinstance(epoch, int) or epoch < self.epoch:
            return NOTHING  # a deposed master's word
        members = sorted({str(m) for m in body.get("members") or []})
        before = set(self.members)
        self.members, self.epoch = members, epoch
        self.master = str(body.get("master") or body.get("origin") or "")
        self.applied += 1
        return Seen(joined=sorted(set(members) - before), left=sorted(before - set(members)))

    # -- reading --------------------------------------------------------------------------
    def items(self) -> list[dict[str, Any]]:
        """By name, as ``pool.ne_states`` gives them."""
        return [self.nes[n] for n in sorted(self.nes)]

    def summary(self) -> dict[str, tuple[Any, ...]]:
        """What must match the agents: each NE's owner, reachability, ports down, error."""
        return essence(self.nes.values())


def essence(items: Any) -> dict[str, tuple[Any, ...]]:
    """name -> (owner, reachable, interfaces_down, last_error) of ``pool.ne_states`` items."""
    return {
        str(d["name"]): (d.get("agent"), d.get("reachable"), d.get("interfaces_down"),
                         d.get("last_error"))
        for d in items
    }  # fmt: skip


def _ours(topic: str, body: Mapping[str, Any]) -> bool:
    return topic == Topic.NE or (topic == Topic.AGENT and ("members" in body or "managed" in body))


def _members_of(
    states: Mapping[str, Any], health: Mapping[str, Any] | None
) -> tuple[list[str], str, int]:
    """(members, master, epoch) from the resync's replies: the master's own part of
    ``pool.health`` when it answered (its live peers and itself), else who answered."""
    answered = sorted(str(n) for n in states.get("answered") or [])
    best: tuple[list[str], str, int] = (answered, "", 0)
    for part in (health or {}).get("items") or []:
        e = part.get("election") or {}
        if e.get("role") == "master" and int(e.get("epoch") or 0) >= best[2]:
            node = str(part.get("node_id") or "")
            alive = [str(n) for n in e.get("alive") or []]
            best = (sorted({node, *alive}), node, int(e.get("epoch") or 0))
    if not best[1]:
        for part in (health or {}).get("items") or []:
            e = part.get("election") or {}
            if e.get("master"):
                best = (answered, str(e["master"]), max(best[2], int(e.get("epoch") or 0)))
    return best

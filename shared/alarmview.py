"""A client's view of the pool's standing alarms: one federated snapshot (``pool.alarms``),
then kept current by the live events the attached agent publishes and relays.

The view never silently diverges from the agents: every event goes through a
``FeedTracker``, and whatever means the view may have missed something (a gap in an
origin's sequence numbers, an origin that restarted, a reattach to another agent, an event
without a usable stamp, a change of which agent manages which NEs, since the new owner
rebuilds its alarms from the event log without events) sets ``resync_needed``. The caller
then fetches a new snapshot; the order that loses nothing is:

1. ``begin_resync()`` while already subscribed: events from now on are buffered;
2. fetch ``pool.alarms``, every page of one snapshot generation (shared/alarmpage.py: each
   member's part is its set at one instant after step 1, however many pages it takes);
3. ``apply_snapshot(reply)`` with the pages put back together: the set is replaced and the
   buffered events are replayed.

Events that reach the client while the snapshot is fetched may or may not be reflected in
it. Replaying them is still exact because every alarm event *assigns* the fields it is
about (severity, text, standing, acknowledgement, the newest note) rather than adjusting
them, and events of one origin arrive in the order it published them: replaying a suffix of
an origin's events over a state that already contains some of them ends in the state after
the last one. (A note carries its number on the alarm, so one numbered no higher than the
count the view holds is one it has: skipped, not counted twice.)

Pure: no clock, no sockets, no Qt (the console reuses it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .alarms import Change, ack_user
from .federated import worst_first
from .livefeed import FeedTracker, Verdict
from .model import AlarmKey
from .notes import note_mark, preview
from .wire import Topic

_ALARM_CHANGES = frozenset(c.value for c in Change)


def key_of(d: Mapping[str, Any]) -> AlarmKey:
    """An alarm's key from a ``pool.alarms`` item (``type``) or an event (``alarm_type``)."""
    kind = d.get("alarm_type") if "alarm_type" in d else d.get("type")
    return AlarmKey(str(d.get("ne", "")), str(d.get("obj", "")), str(kind or ""))


@dataclass(slots=True)
class AlarmView:
    """The pool's standing (not cleared) alarms by key, each as a ``pool.alarms`` item."""

    alarms: dict[AlarmKey, dict[str, Any]] = field(default_factory=dict)
    tracker: FeedTracker = field(default_factory=FeedTracker)
    resync_needed: str = "no snapshot yet"  # why the view must be resynchronised; "" if not
    answered: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    applied: int = 0  # live events applied (replays included)
    resyncs: int = 0
    _buffer: list[dict[str, Any]] | None = None
    _pending: str = ""  # a reason seen while buffering: resync again after this one

    # -- resynchronisation ----------------------------------------------------------------
    @property
    def resyncing(self) -> bool:
        return self._buffer is not None

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    def begin_resync(self) -> None:
        """From now until ``apply_snapshot`` live events are buffered, not applied."""
        self._buffer = []
        self._pending = ""

    def reattached(self) -> None:
        """The client now listens to another agent: what it knew of each origin's sequence
        numbers says nothing about what this one relays."""
        self.tracker.reset()
        self._need("reattached to another agent")

    def apply_snapshot(self, reply: Mapping[str, Any]) -> None:
        """Replace the set with a ``pool.alarms`` reply, then replay the buffered events."""
        items = reply.get("items")
        if not isinstance(items, list):
            raise ValueError("pool.alarms reply without items")
        self.alarms = {
            key_of(a): dict(a) for a in items if isinstance(a, dict) and a.get("active", True)
        }
        self.answered = [str(n) for n in reply.get("answered") or []]
        missing = reply.get("missing") or {}
        self.missing = {str(k): str(v) for k, v in missing.items()}
        buffered, self._buffer = self._buffer or [], None
        for body in buffered:
            self._apply(body)
        self.resyncs += 1
        self.resync_needed, self._pending = self._pending, ""

    # -- live events ----------------------------------------------------------------------
    def on_event(self, topic: str, body: Mapping[str, Any]) -> Verdict | None:
        """One published message (any topic: each origin numbers all of its messages).
        Returns the tracker's verdict, None for a message without a usable stamp."""
        verdict, stamp, why = self.tracker.judge(body, self._buffer is None and bool(self.resyncs))
        if verdict is None or stamp is None:
            self._need(why)
            return None
        if verdict is Verdict.DUPLICATE:
            return verdict
        if why:
            self._need(why)
        if topic == Topic.AGENT and "managed" in body:
            self._need(f"{stamp.origin} now manages other NEs")
        if topic == Topic.EVENT and body.get("type") in _ALARM_CHANGES:
            if self._buffer is not None:
                self._buffer.append(dict(body))
            else:
                self._apply(body)
        return verdict

    def _need(self, why: str) -> None:
        if self._buffer is not None:
            self._pending = self._pending or why
        elif not self.resync_needed:
            self.resync_needed = why

    def _apply(self, e: Mapping[str, Any]) -> None:
        key = key_of(e)
        change, t = e.get("type"), e.get("time")
        a = self.alarms.get(key)
        self.applied += 1
        if change == Change.RAISED:
            if a is None:
                a = self.alarms[key] = {
                    "ne": key.ne,
                    "obj": key.obj,
                    "type": key.type,
                    "count": 0,
                    "first_seen": t,
                }
            a.update(
                severity=e.get("severity"),
                text=e.get("text"),
                active=True,
                count=int(a.get("count") or 0) + 1,
                raised_at=t,
                last_seen=t,
                cleared_at=None,
                acked_by=None,
                acked_at=None,
                agent=e.get("origin") or e.get("agent"),
            )
            a.pop("note_count", None)  # a new occurrence starts without notes
            a.pop("last_note", None)
        elif change == Change.CLEARED:
            self.alarms.pop(key, None)
        elif a is None:
            return  # about an alarm cleared since (or raised before a snapshot that lacks it)
        elif change == Change.CHANGED:
            a.update(severity=e.get("severity"), text=e.get("text"), last_seen=t)
        elif change == Change.ACKED:
            a.update(acked_by=ack_user(str(e.get("text", ""))), acked_at=t)
        elif change == Change.UNACKED:
            a.update(acked_by=None, acked_at=None)
        elif change == Change.NOTED:
            mark = note_mark(str(e.get("text", "")))
            # Numbered on the alarm: one the view holds already (replayed over a snapshot
            # that has it) changes nothing.
            if mark is not None and mark[1] > int(a.get("note_count") or 0):
                text, number, user = mark
                note = {"time": t, "user": user, "text": preview(text), "number": number}
                a.update(note_count=number, last_note=note)

    # -- reading --------------------------------------------------------------------------
    def items(self) -> list[dict[str, Any]]:
        """Worst first, then the most recently seen (the order of ``pool.alarms``)."""
        return worst_first(self.alarms.values())

    def summary(self) -> dict[AlarmKey, tuple[str, str | None, int]]:
        """What must match the agents exactly: each standing alarm's severity, ack and
        number of notes."""
        return essence(self.alarms.values())


def essence(items: Iterable[Mapping[str, Any]]) -> dict[AlarmKey, tuple[str, str | None, int]]:
    """key -> (severity, acked_by, note_count) of the standing alarms among ``pool.alarms``
    items (or ``Alarm.to_dict``'s)."""
    return {
        key_of(a): (str(a.get("severity")), a.get("acked_by"), int(a.get("note_count") or 0))
        for a in items
        if a.get("active", True)
    }

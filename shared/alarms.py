"""Nodal alarm store: a pure state machine (no clock, no I/O; callers pass ``now``).

Every transition that an operator must be able to trace returns a
:class:`Transition`; the agent turns those into event-log rows and bus events.
Repeated raises of a standing alarm only bump its count and last-seen time:
that is deduplication, not a transition, so it never floods the event log.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from .model import AlarmKey, AlarmType, Event, EventType, Severity
from .notes import Note, keep_newest, note_event_text, note_mark


@dataclass(slots=True)
class Alarm:
    key: AlarmKey
    severity: Severity
    text: str
    first_seen: float
    last_seen: float
    raised_at: float
    count: int = 1
    cleared_at: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    auto_clear_at: float | None = None  # for one-shot alarms such as a device restart
    # Operators' notes on this occurrence, the newest kept (a new list on each note, never
    # changed in place: transitions' snapshots share it).
    notes: list[Note] = field(default_factory=list)
    note_count: int = 0  # notes written on this occurrence, kept or not

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def to_dict(self) -> dict[str, object]:
        """The alarm as it crosses the bus; without notes the same object as its
        ``pool.alarms`` item less the agent (``shared.alarmpage.AlarmItem``)."""
        notes: dict[str, object] = {}
        if self.note_count:
            last = self.notes[-1].to_dict() if self.notes else None
            notes = {"note_count": self.note_count, "last_note": last,
                     "notes": [n.to_dict() for n in self.notes]}  # fmt: skip
        return {
            "ne": self.key.ne,
            "obj": self.key.obj,
            "type": self.key.type,
            "severity": self.severity.label,
            "text": self.text,
            "active": self.active,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "raised_at": self.raised_at,
            "cleared_at": self.cleared_at,
            "acked_by": self.acked_by,
            "acked_at": self.acked_at,
        } | notes


_ACK_MARK = " (acked by "


def ack_user(text: str) -> str:
    """Who acknowledged, from an alarm-acked event's text ("... (acked by NAME)")."""
    head, _, tail = text.rpartition(_ACK_MARK)
    return tail[:-1] if head and tail.endswith(")") else "?"


class Change(enum.StrEnum):
    RAISED = EventType.ALARM_RAISED
    CHANGED = EventType.ALARM_CHANGED
    CLEARED = EventType.ALARM_CLEARED
    ACKED = EventType.ALARM_ACKED
    UNACKED = EventType.ALARM_UNACKED
    NOTED = EventType.ALARM_NOTE


@dataclass(frozen=True, slots=True)
class Transition:
    change: Change
    alarm: Alarm  # a snapshot taken at the transition

    def to_event(self, agent: str, now: float) -> Event:
        a = self.alarm
        if self.change in (Change.ACKED, Change.UNACKED):
            who = a.acked_by or "?"
            verb = "acked" if self.change is Change.ACKED else "unacked"
            text = f"{a.text} ({verb} by {who})"
        elif self.change is Change.NOTED:
            text = note_event_text(a.notes[-1])
        else:
            text = a.text
        severity = Severity.CLEARED if self.change is Change.CLEARED else a.severity
        return Event(
            time=now,
            ne=a.key.ne,
            type=self.change.value,
            severity=severity,
            text=text,
            agent=agent,
            obj=a.key.obj,
            alarm_type=a.key.type,
        )


class AlarmStore:
    """All alarms of the NEs one agent manages, indexed by key and by NE.

    ``revision`` counts every change and ``revision_of(ne)`` is its value at that NE's
    last change, so a reader that keeps something derived from an NE's alarms (the
    federated list's encoded rows, shared/alarmpage.py) rebuilds it only for NEs that
    changed since: a poll touches a few NEs a second, a full list reads them all."""

    def __init__(self, cleared_retention: float = 3600.0) -> None:
        self._alarms: dict[AlarmKey, Alarm] = {}
        self._by_ne: dict[str, set[AlarmKey]] = {}
        self._revs: dict[str, int] = {}
        self.revision = 0
        self.cleared_retention = cleared_retention

    def _touch(self, ne: str) -> None:
        self.revision += 1
        self._revs[ne] = self.revision

    def revision_of(self, ne: str) -> int:
        return self._revs.get(ne, 0)

    def nes(self) -> list[str]:
        """The NEs that have alarms here (active or cleared)."""
        return list(self._by_ne)

    def __len__(self) -> int:
        return len(self._alarms)

    def __iter__(self) -> Iterator[Alarm]:
        return iter(self._alarms.values())

    def get(self, key: AlarmKey) -> Alarm | None:
        return self._alarms.get(key)

    def active(self, ne: str | None = None) -> list[Alarm]:
        if ne is None:
            return [a for a in self._alarms.values() if a.active]
        return [self._alarms[k] for k in self._by_ne.get(ne, ()) if self._alarms[k].active]

    def for_ne(self, ne: str) -> list[Alarm]:
        return [self._alarms[k] for k in self._by_ne.get(ne, ())]

    def raise_(
        self,
        key: AlarmKey,
        severity: Severity,
        text: str,
        now: float,
        *,
        auto_clear_after: float | None = None,
    ) -> Transition | None:
        if severity is Severity.CLEARED:
            return self.clear(key, now)
        alarm = self._alarms.get(key)
        auto_clear_at = None if auto_clear_after is None else now + auto_clear_after
        self._touch(key.ne)  # every path below changes the alarm (last_seen at least)
        if alarm is None:
            alarm = Alarm(key, severity, text, now, now, now, auto_clear_at=auto_clear_at)
            self._alarms[key] = alarm
            self._by_ne.setdefault(key.ne, set()).add(key)
            return Transition(Change.RAISED, replace(alarm))
        alarm.last_seen = now
        alarm.count += 1
        if auto_clear_at is not None:
            alarm.auto_clear_at = auto_clear_at
        if not alarm.active:
            # A cleared alarm that comes back is a new occurrence: a fresh ack is needed.
            alarm.cleared_at = None
            alarm.raised_at = now
            alarm.severity, alarm.text = severity, text
            alarm.acked_by = alarm.acked_at = None
            alarm.notes, alarm.note_count = [], 0
            return Transition(Change.RAISED, replace(alarm))
        # A better wording (an interface name learnt after the trap) is not news for
        # the event log; a severity change is.
        alarm.text = text
        if alarm.severity != severity:
            alarm.severity = severity
            return Transition(Change.CHANGED, replace(alarm))
        return None

    def clear(self, key: AlarmKey, now: float) -> Transition | None:
        alarm = self._alarms.get(key)
        if alarm is None or not alarm.active:
            return None
        self._touch(key.ne)
        alarm.cleared_at = now
        alarm.last_seen = now
        alarm.auto_clear_at = None
        return Transition(Change.CLEARED, replace(alarm))

    def ack(self, key: AlarmKey, user: str, now: float) -> Transition | None:
        alarm = self._alarms.get(key)
        if alarm is None:
            return None
        if alarm.acked_by is not None:
            return None
        self._touch(key.ne)
        alarm.acked_by, alarm.acked_at = user, now
        return Transition(Change.ACKED, replace(alarm))

    def unack(self, key: AlarmKey, user: str, now: float) -> Transition | None:
        alarm = self._alarms.get(key)
        if alarm is None or alarm.acked_by is None:
            return None
        self._touch(key.ne)
        alarm.acked_by, alarm.acked_at = None, None
        snapshot = replace(alarm, acked_by=user, acked_at=now)
        return Transition(Change.UNACKED, snapshot)

    def note(self, key: AlarmKey, user: str, text: str, now: float) -> Transition | None:
        """A note (already checked: ``shared.notes.check_note_text``) on a standing alarm."""
        alarm = self._alarms.get(key)
        if alarm is None or not alarm.active:
            return None
        self._touch(key.ne)
        alarm.note_count += 1
        alarm.notes = keep_newest(alarm.notes, Note(now, user, text, alarm.note_count))
        return Transition(Change.NOTED, replace(alarm))

    def reconcile(
        self, ne: str, alarm_type: str, wanted: dict[str, tuple[Severity, str]], now: float
    ) -> list[Transition]:
        """Make the active alarms of one (NE, type) exactly ``wanted`` (obj -> severity, text).

        Pollers see a full picture each cycle; this raises what is new and clears
        what went away, so a clear really clears.
        """
        out: list[Transition] = []
        for obj, (severity, text) in wanted.items():
            t = self.raise_(AlarmKey(ne, obj, alarm_type), severity, text, now)
            if t is not None:
                out.append(t)
        for key in list(self._by_ne.get(ne, ())):
            if key.type == alarm_type and key.obj not in wanted:
                t = self.clear(key, now)
                if t is not None:
                    out.append(t)
        return out

    def expire(self, now: float) -> list[Transition]:
        """Auto-clear one-shot alarms whose time is up; forget old cleared ones."""
        out: list[Transition] = []
        forget: list[AlarmKey] = []
        for key, alarm in self._alarms.items():
            if alarm.active:
                if alarm.auto_clear_at is not None and alarm.auto_clear_at <= now:
                    t = self.clear(key, now)
                    if t is not None:
                        out.append(t)
            elif alarm.cleared_at is not None and (
                alarm.acked_by is not None or now - alarm.cleared_at >= self.cleared_retention
            ):
                forget.append(key)
        for key in forget:
            self._forget(key)
        return out

    def close_ne(self, ne: str, now: float, reason: str) -> list[Transition]:
        """Clear every active alarm of an NE that leaves management for good (removed or
        unmanaged), saying why, so none stays open in the event log forever."""
        out: list[Transition] = []
        for alarm in self.active(ne):
            t = self.clear(alarm.key, now)
            if t is not None:
                out.append(replace(t, alarm=replace(t.alarm, text=f"{t.alarm.text} ({reason})")))
        return out

    def drop_ne(self, ne: str) -> int:
        """Forget an NE's alarms without transitions (the NE moved to another agent)."""
        keys = self._by_ne.pop(ne, set())
        self._touch(ne)
        for key in keys:
            del self._alarms[key]
        return len(keys)

    def restore(self, alarms: Iterable[Alarm]) -> None:
        """Load alarms rebuilt elsewhere (event log) without emitting transitions."""
        for alarm in alarms:
            self._alarms[alarm.key] = alarm
            self._by_ne.setdefault(alarm.key.ne, set()).add(alarm.key)
            self._touch(alarm.key.ne)

    def _forget(self, key: AlarmKey) -> None:
        self._touch(key.ne)
        del self._alarms[key]
        keys = self._by_ne.get(key.ne)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_ne[key.ne]


def rebuild(events: Iterable[Event], restart_hold: float | None = None) -> list[Alarm]:
    """Standing alarms as the event log tells them, oldest event first.

    An agent that restarts or takes over NEs starts from this instead of an empty
    store, so raise times, counts and acknowledgements survive; the next poll then
    clears what went away meanwhile. One-shot alarms get their auto-clear time back.
    """
    alarms: dict[AlarmKey, Alarm] = {}
    for e in sorted(events, key=lambda e: (e.time, e.id)):
        if not e.alarm_type:
            continue
        key = AlarmKey(e.ne, e.obj, e.alarm_type)
        a = alarms.get(key)
        if e.type == Change.RAISED:
            if a is None:
                alarms[key] = Alarm(key, e.severity, e.text, e.time, e.time, e.time)
            else:
                a.severity, a.text, a.last_seen, a.raised_at = e.severity, e.text, e.time, e.time
                a.count += 1
                a.cleared_at = a.acked_by = a.acked_at = None
                a.notes, a.note_count = [], 0
        elif a is None:
            continue  # its raise is older than what we were given
        elif e.type == Change.CHANGED:
            a.severity, a.text, a.last_seen = e.severity, e.text, e.time
        elif e.type == Change.CLEARED:
            a.cleared_at = a.last_seen = e.time
        elif e.type == Change.ACKED:
            a.acked_by = ack_user(e.text)
            a.acked_at = e.time
        elif e.type == Change.UNACKED:
            a.acked_by = a.acked_at = None
        elif e.type == Change.NOTED and (mark := note_mark(e.text)) is not None:
            text, number, user = mark
            a.notes = keep_newest(a.notes, Note(e.time, user, text, number))
            a.note_count = max(a.note_count, number)
    standing = [a for a in alarms.values() if a.active]
    if restart_hold is not None:
        for a in standing:
            if a.key.type == AlarmType.DEVICE_RESTART:
                a.auto_clear_at = a.raised_at + restart_hold
    return standing

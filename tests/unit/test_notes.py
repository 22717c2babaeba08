"""Notes on alarms: the text a note may have, the store, the event log and its rebuild, the
pool.alarms item and a client's live view."""

from __future__ import annotations

import re

import msgspec
import pytest

from shared.alarmpage import alarm_entry
from shared.alarms import AlarmStore, Change, Transition, rebuild
from shared.alarmview import AlarmView
from shared.livefeed import Sequencer
from shared.model import AlarmKey, Event, Severity
from shared.notes import (
    MAX_NOTE_CHARS,
    MAX_NOTES_KEPT,
    PREVIEW_CHARS,
    Note,
    check_note_text,
    note_event_text,
    note_mark,
)

K = AlarmKey("ne1", "ifIndex=3", "link-down")


def test_a_note_is_one_line_of_bounded_printable_text() -> None:
    assert check_note_text("  fibre team dispatched, ticket #4711  ") == (
        "fibre team dispatched, ticket #4711"
    )
    assert check_note_text("x" * MAX_NOTE_CHARS) == "x" * MAX_NOTE_CHARS
    assert check_note_text("Glasfaser geprüft ✓") == "Glasfaser geprüft ✓"
    with pytest.raises(ValueError, match="at most 1000"):
        check_note_text("x" * (MAX_NOTE_CHARS + 1))
    with pytest.raises(ValueError, match="empty"):
        check_note_text(" \t ")
    with pytest.raises(ValueError, match="expected text"):
        check_note_text(None)
    for bad, code in (("a\nb", "U+000A"), ("a\x1b[31mb", "U+001B"), ("a\u2028b", "U+2028")):
        with pytest.raises(ValueError, match=re.escape(f"control character {code} at position 2")):
            check_note_text(bad)


def test_the_event_text_gives_back_note_number_and_user() -> None:
    for text, user in (
        ("plain", "alice"),
        ("quotes another (note 1 by bob)", "alice"),
        ("x", "carol by night"),
        ("x", "dave (unauthenticated)"),
    ):
        assert note_mark(note_event_text(Note(1.0, user, text, 7))) == (text, 7, user)
    assert note_mark("Link down (acked by alice)") is None
    assert note_mark("a (note x by y)") is None


def test_notes_go_on_standing_alarms_and_a_new_occurrence_starts_without() -> None:
    s = AlarmStore()
    assert s.note(K, "alice", "x", 1.0) is None  # no such alarm
    s.raise_(K, Severity.MAJOR, "Link down", 1.0)
    t = s.note(K, "alice", "fibre team called", 2.0)
    assert t is not None and t.change is Change.NOTED
    e = t.to_event("a1", 2.0)
    assert (e.type, e.severity, e.obj, e.alarm_type) == (
        "alarm-note", Severity.MAJOR, K.obj, K.type
    )  # fmt: skip
    assert e.text == "fibre team called (note 1 by alice)"
    s.note(K, "bob", "splice done", 3.0)
    a = s.get(K)
    assert a is not None and a.note_count == 2
    assert [(n.user, n.text, n.number) for n in a.notes] == [
        ("alice", "fibre team called", 1), ("bob", "splice done", 2)
    ]  # fmt: skip
    assert t.alarm.note_count == 1 and len(t.alarm.notes) == 1  # the snapshot stays as it was
    assert a.to_dict()["notes"] == [n.to_dict() for n in a.notes]
    s.clear(K, 4.0)
    assert s.note(K, "alice", "too late", 5.0) is None  # cleared
    s.raise_(K, Severity.MAJOR, "Link down", 6.0)
    a = s.get(K)
    assert a is not None and a.notes == [] and a.note_count == 0


def test_an_alarm_keeps_its_newest_notes_and_counts_all() -> None:
    s = AlarmStore()
    s.raise_(K, Severity.MINOR, "x", 0.0)
    for i in range(MAX_NOTES_KEPT + 5):
        s.note(K, "op", f"n{i}", 1.0 + i)
    a = s.get(K)
    assert a is not None and a.note_count == MAX_NOTES_KEPT + 5
    assert len(a.notes) == MAX_NOTES_KEPT and a.notes[-1].text == f"n{MAX_NOTES_KEPT + 4}"


def test_notes_survive_a_rebuild_from_the_event_log_and_numbering_goes_on() -> None:
    old = AlarmStore()
    events: list[Event] = []

    def log(t: Transition | None, now: float) -> None:
        assert t is not None
        events.append(t.to_event("a1", now))

    log(old.raise_(K, Severity.MAJOR, "Link down", 1.0), 1.0)
    log(old.note(K, "alice", "first (note 9 by mallory)", 2.0), 2.0)
    log(old.ack(K, "alice", 3.0), 3.0)
    log(old.note(K, "bob", "second", 4.0), 4.0)
    (a,) = rebuild(events)
    assert a.acked_by == "alice" and a.note_count == 2
    assert [(n.time, n.user, n.text, n.number) for n in a.notes] == [
        (2.0, "alice", "first (note 9 by mallory)", 1), (4.0, "bob", "second", 2)
    ]  # fmt: skip
    new = AlarmStore()
    new.restore([a])
    t = new.note(K, "carol", "third, after the handover", 5.0)
    assert t is not None and t.to_event("a2", 5.0).text.endswith("(note 3 by carol)")
    # A re-raise after a clear in the log starts the notes again.
    cleared = Event(6.0, K.ne, "alarm-cleared", Severity.CLEARED, "x", "a1", K.obj, K.type)
    again = Event(7.0, K.ne, "alarm-raised", Severity.MAJOR, "x", "a1", K.obj, K.type)
    (b,) = rebuild([*events, cleared, again])
    assert b.notes == [] and b.note_count == 0


def test_pool_alarms_items_carry_the_count_and_the_newest_note_only() -> None:
    s = AlarmStore()
    s.raise_(K, Severity.MAJOR, "x", 1.0)
    a = s.get(K)
    assert a is not None
    plain = msgspec.to_builtins(alarm_entry(a, "a1")[1])
    assert "note_count" not in plain and "last_note" not in plain  # no cost without notes
    assert plain == a.to_dict() | {"agent": "a1"}  # the same object as the owner gives
    s.note(K, "alice", "one", 2.0)
    s.note(K, "bob", "two", 3.0)
    item = msgspec.to_builtins(alarm_entry(a, "a1")[1])
    assert item["note_count"] == 2
    assert item["last_note"] == {"time": 3.0, "user": "bob", "text": "two", "number": 2}
    whole = a.to_dict()
    assert whole["last_note"] == item["last_note"] and len(whole["notes"]) == 2  # type: ignore[arg-type]


def test_the_live_view_applies_a_note_once_even_when_replayed_over_a_snapshot() -> None:
    s = AlarmStore()
    seq = Sequencer("a1", "r1")
    view = AlarmView()

    def publish(t: Transition | None, now: float) -> dict[str, object]:
        assert t is not None
        return seq.stamp(t.to_event("a1", now).to_dict())

    view.begin_resync()
    view.on_event("event", publish(s.raise_(K, Severity.MAJOR, "x", 1.0), 1.0))
    view.on_event("event", publish(s.note(K, "alice", "one", 2.0), 2.0))
    a = s.get(K)
    assert a is not None
    item = msgspec.to_builtins(alarm_entry(a, "a1")[1])
    view.apply_snapshot({"items": [item], "answered": ["a1"], "missing": {}})  # has the note
    (shown,) = view.items()
    assert shown["note_count"] == 1 and shown["last_note"]["text"] == "one"
    view.on_event("event", publish(s.note(K, "bob", "two", 3.0), 3.0))
    (shown,) = view.items()
    assert shown["note_count"] == 2
    assert shown["last_note"] == {"time": 3.0, "user": "bob", "text": "two", "number": 2}


def test_the_list_carries_a_preview_of_a_long_note_and_the_owner_all_of_it() -> None:
    s = AlarmStore()
    s.raise_(K, Severity.MAJOR, "x", 1.0)
    long = "y" * MAX_NOTE_CHARS
    t = s.note(K, "alice", long, 2.0)
    a = s.get(K)
    assert a is not None and t is not None
    item = msgspec.to_builtins(alarm_entry(a, "a1")[1])
    assert len(item["last_note"]["text"]) == PREVIEW_CHARS
    assert item["last_note"]["text"].endswith("…")
    assert a.to_dict()["notes"][0]["text"] == long  # type: ignore[index]
    assert t.to_event("a1", 2.0).text.startswith(long)  # the event log has it whole
    view = AlarmView()
    view.begin_resync()
    view.apply_snapshot({"items": [msgspec.to_builtins(alarm_entry(a, "a1")[1])]})
    seq = Sequencer("a1", "r1")
    t2 = s.note(K, "bob", long, 3.0)
    assert t2 is not None
    view.on_event("event", seq.stamp(t2.to_event("a1", 3.0).to_dict()))
    (shown,) = view.items()
    again = msgspec.to_builtins(alarm_entry(a, "a1")[1])
    assert shown["last_note"] == again["last_note"] and shown["note_count"] == 2

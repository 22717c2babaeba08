"""Operators' notes on an alarm: what a note may say, and how it is written in the event log.

A note is one line of text (the event log, the CLI tables and the console show it on one
line), at most ``MAX_NOTE_CHARS`` characters, with no control characters. It belongs to the
alarm's occurrence, like an acknowledgement: a cleared alarm that comes back starts without
notes. An alarm keeps its newest ``MAX_NOTES_KEPT`` notes in memory; every note stays in the
event log, where the next owner of the NE finds them again (``shared.alarms.rebuild``).

The event-log row of a note (type ``alarm-note``) says in its text who wrote it and its
number on the alarm: ``"<note> (note 3 by alice)"``, read back with ``note_mark``. The
number lets a client apply a note event exactly once, whatever it already holds: a note
numbered no higher than the alarm's count is one it has (see ``shared.alarmview``).

Pure: no clock, no I/O.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_NOTE_CHARS = 1000
MAX_NOTES_KEPT = 20  # per alarm, in memory; older ones are in the event log
# The newest note's text as the pool's alarm list carries it (shared/alarmpage.py): a page of
# 5,000 alarms stays under the bus's 4 MiB even if every one has a long note.
PREVIEW_CHARS = 200

_MARK = " (note "
_BY = " by "
# Line and paragraph separators end a line in most viewers: refused like control characters.
_REFUSED_CATEGORIES = frozenset(("Cc", "Zl", "Zp"))


@dataclass(frozen=True, slots=True)
class Note:
    time: float
    user: str  # the authenticated bus key's name
    text: str
    number: int  # 1 for the first note of the alarm's occurrence

    def to_dict(self) -> dict[str, object]:
        return {"time": self.time, "user": self.user, "text": self.text, "number": self.number}


def check_note_text(raw: object) -> str:
    """The note an operator asked for, trimmed; ValueError saying what is wrong otherwise."""
    if not isinstance(raw, str):
        raise ValueError("note: expected text")
    text = raw.strip()
    if not text:
        raise ValueError("note: the text is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"note: {len(text)} characters, a note has at most {MAX_NOTE_CHARS}")
    for i, c in enumerate(text):
        if unicodedata.category(c) in _REFUSED_CATEGORIES:
            raise ValueError(
                f"note: control character U+{ord(c):04X} at position {i + 1}: a note is one "
                "line of printable text"
            )
    return text


def note_event_text(note: Note) -> str:
    return f"{note.text}{_MARK}{note.number}{_BY}{note.user})"


def note_mark(text: str) -> tuple[str, int, str] | None:
    """(note, number, user) from an ``alarm-note`` event's text; None if it is not one.

    The mark is the last one in the text: a note may quote another note's mark, a key's
    name is chosen by the pool's administrator."""
    head, sep, tail = text.rpartition(_MARK)
    if not sep or not tail.endswith(")"):
        return None
    number, by, user = tail[:-1].partition(_BY)
    if not by or not number.isdigit() or not user:
        return None
    return head, int(number), user


def preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def keep_newest(notes: list[Note], note: Note) -> list[Note]:
    """``notes`` with ``note`` added, the newest ``MAX_NOTES_KEPT`` of them."""
    return [*notes, note][-MAX_NOTES_KEPT:]

"""The alarm browser's details pane: the one selected alarm's fields and its notes.

The pool's alarm list carries of each alarm only the number of notes and the newest one
(shared/alarmpage.py: a page must stay under the bus's cap); the pane asks the NE's owner
for the rest (``pool.ne_detail``) when the selected alarm has notes it has not shown yet,
and shows the newest one from the list meanwhile. ``details_html`` is pure (tested
without Qt); the widget only holds what was fetched for which alarm.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from console.alarmlist import when
from shared.alarmview import key_of
from shared.model import AlarmKey

Request = Callable[..., None]  # Connection.request's shape


def details_html(alarm: Mapping[str, Any] | None, notes: Sequence[Mapping[str, Any]]) -> str:
    """The pane's text for ``alarm`` (None: nothing or several selected) with ``notes``,
    oldest first; the newest note of the list item when none were fetched."""
    if alarm is None:
        return "<i>Select one alarm to see its details and notes.</i>"
    e = html.escape
    k = key_of(alarm)
    ack = alarm.get("acked_by")
    lines = [
        f"<b>{e(str(alarm.get('severity', '')).upper())}</b> {e(k.ne)} "
        f"{e(k.obj or '-')} {e(k.type)}: {e(str(alarm.get('text', '')))}",
        f"raised {e(when(alarm.get('raised_at')))} · last seen {e(when(alarm.get('last_seen')))}"
        f" · count {alarm.get('count') or 0} · "
        + (f"acknowledged by {e(str(ack))}" if ack else "not acknowledged")
        + f" · owner {e(str(alarm.get('agent') or '?'))}",
    ]
    count = int(alarm.get("note_count") or 0)
    shown = list(notes)
    last = alarm.get("last_note")
    if not shown and isinstance(last, Mapping):
        shown = [last]
    if count:
        older = count - len(shown)
        more = f" ({older} older in the event log)" if older > 0 else ""
        lines.append(f"<b>Notes: {count}</b>{more}")
        lines += [
            f"{e(when(n.get('time')))} <b>{e(str(n.get('user', '?')))}</b>: "
            f"{e(str(n.get('text', '')))}"
            for n in shown
        ]
    else:
        lines.append("No notes.")
    return "<br>".join(lines)


class AlarmDetails(QLabel):
    def __init__(self, request: Request, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._request = request
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.alarm: Mapping[str, Any] | None = None
        self.notes: list[Mapping[str, Any]] = []  # fetched for ``_of``
        self._of: tuple[AlarmKey, int] | None = None  # (alarm, its note count) fetched
        self._asked: tuple[AlarmKey, int] | None = None
        self.fetched = 0  # answers taken (tests wait for one)
        self.setText(details_html(None, []))

    def show_alarm(self, alarm: Mapping[str, Any] | None) -> None:
        """Show this alarm (the row as the list has it now); fetch its notes if needed."""
        self.alarm = alarm
        wanted = None if alarm is None else (key_of(alarm), int(alarm.get("note_count") or 0))
        if wanted is None or wanted[1] == 0:
            self.notes, self._of = [], wanted
        elif wanted != self._of and wanted != self._asked:
            self._asked = wanted
            self._request(
                "pool.ne_detail",
                {"ne": wanted[0].ne},
                on_result=lambda res, w=wanted: self.take_notes(w[0], w[1], res),
                on_error=lambda err: None,  # the newest note from the list stays shown
                timeout=5.0,
            )
        self._render()

    def take_notes(self, key: AlarmKey, count: int, reply: Any) -> None:
        """The owner's standing alarms of the NE (``pool.ne_detail``) or one alarm as
        ``pool.note`` answers it: the notes of ``key``, if that is still the one shown."""
        self.fetched += 1
        alarms = reply.get("alarms") if isinstance(reply, dict) and "alarms" in reply else [reply]
        found = next((a for a in alarms or [] if isinstance(a, dict) and key_of(a) == key), None)
        if found is None or self.alarm is None or key_of(self.alarm) != key:
            return
        notes: list[Mapping[str, Any]] = [
            n for n in found.get("notes") or [] if isinstance(n, dict)
        ]
        self.notes, self._of = notes, (key, int(found.get("note_count") or count))
        self._render()

    def _render(self) -> None:
        current = self.alarm is not None and self._of is not None
        fresh = current and self._of == (key_of(self.alarm or {}), self._count())
        self.setText(details_html(self.alarm, self.notes if fresh else []))

    def _count(self) -> int:
        return int((self.alarm or {}).get("note_count") or 0)

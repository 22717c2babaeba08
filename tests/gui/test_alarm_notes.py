"""The alarm browser's notes (pytest-qt, offscreen): "Add note…" opens a dialog whose text
goes to ``pool.note`` for the selected alarm, the answer and the pool's list show in the
notes column and the details pane (the owner asked for the notes the list does not carry),
a bad text is refused before any request, and a key without the operator role sees the
button disabled with the reason.

The window is the real one on a real (silent) connection; only its ``request`` is a
recorder that answers as the NE's owner would, so the test sees exactly what is sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit

from console.alarmlist import COLUMN_INDEX
from console.connection import Snapshot, State
from console.mainwindow import MainWindow
from shared.model import AlarmKey
from tests.helpers.mute import silent_window

pytestmark = pytest.mark.timeout(60)

KEY = AlarmKey("rtr3", "ifIndex=2", "link-down")


def note(n: int, text: str, user: str = "carol") -> dict[str, Any]:
    return {"time": 100.0 + n, "user": user, "text": text, "number": n}


def alarm(notes: list[dict[str, Any]] | None = None, count: int | None = None) -> dict[str, Any]:
    a = {"ne": KEY.ne, "obj": KEY.obj, "type": KEY.type, "severity": "major",
         "text": "Link down", "active": True, "count": 1, "raised_at": 10.0, "last_seen": 10.0,
         "acked_by": None, "agent": "p2"}  # fmt: skip
    if notes:
        a |= {"note_count": count or len(notes), "last_note": notes[-1]}
    return a


def snap(alarms: list[dict[str, Any]]) -> Snapshot:
    return Snapshot(
        full=True, removed=[], total=len(alarms), alarms=alarms, answered=["p1", "p2"],
        missing={}, state=State.ATTACHED, detail="", node="p1", endpoint="tcp://127.0.0.1:1",
        last_resync=time.time(), last_reason="first snapshot", reattaches=0, resyncs=1,
        applied=0,
    )  # fmt: skip


class Owner:
    """Stands in for ``Connection.request``: records each request and answers it as the
    NE's owner does, from the notes it holds."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.notes: list[dict[str, Any]] = []

    def __call__(
        self, op: str, args: dict[str, Any], *, on_result: Callable[[Any], None],
        on_error: Callable[[Exception], None], timeout: float = 5.0,
    ) -> None:  # fmt: skip
        self.sent.append((op, dict(args)))
        if op == "pool.note":
            self.notes.append(note(len(self.notes) + 1, args["text"]))
            on_result(alarm() | {"note_count": len(self.notes), "notes": self.notes,
                                 "agent": "p2", "via": "p1"})  # fmt: skip
        elif op == "pool.ne_detail":
            one = alarm() | {"note_count": len(self.notes), "notes": self.notes}
            on_result({"agent": "p2", "state": None, "alarms": [one]})


@pytest.fixture
def window(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    with silent_window(qtbot, tmp_path / "c.ini") as win:
        yield win


def show(qtbot: Any, win: MainWindow, alarms: list[dict[str, Any]]) -> None:
    with qtbot.waitSignal(win.alarms.rows_changed, timeout=5_000):
        win._on_snapshot(snap(alarms))


def test_add_note_sends_it_for_the_selected_alarm_and_shows_it(
    qtbot: Any, window: MainWindow
) -> None:
    b = window.alarms
    owner = Owner()
    b._request = owner
    b.details._request = owner
    show(qtbot, window, [alarm()])
    assert not b.note_button.isEnabled()  # nothing selected
    assert "Select one alarm" in b.details.text()
    b.table.selectRow(0)
    assert b.note_button.isEnabled() and "No notes." in b.details.text()

    b.note_button.click()
    qtbot.waitUntil(lambda: b.note_dialog is not None and b.note_dialog.isVisible())
    dialog = b.note_dialog
    assert dialog is not None and str(KEY) in dialog.labelText()
    edit = dialog.findChild(QLineEdit)
    assert edit is not None and edit.maxLength() == 1000
    qtbot.keyClicks(edit, "  fibre cut, carrier ticket 4711  ")
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: b.note_dialog is None)

    assert owner.sent == [("pool.note", {"ne": KEY.ne, "obj": KEY.obj, "type": KEY.type,
                                         "text": "fibre cut, carrier ticket 4711"})]  # fmt: skip
    assert b.last_ack == f"{KEY.ne} {KEY.obj} {KEY.type}: note 1 added"
    # The live view brings the note in the list: the cell and the pane show it.
    show(qtbot, window, [alarm([note(1, "fibre cut, carrier ticket 4711")])])
    cell = b.model.index(0, COLUMN_INDEX["note_count"])
    assert b.model.data(cell) == "1: fibre cut, carrier ticket 4711 (carol)"
    assert "Notes: 1" in b.details.text() and "carrier ticket 4711" in b.details.text()

    # Notes written elsewhere: the list has the newest only, the pane asks the owner.
    owner.notes += [note(2, "splice crew on site", "dave"), note(3, "restored <ok>", "erin")]
    show(qtbot, window, [alarm(owner.notes)])
    assert owner.sent[-1] == ("pool.ne_detail", {"ne": KEY.ne})
    text = b.details.text()
    assert "Notes: 3" in text and "older in the event log" not in text
    for words in ("carrier ticket 4711", "<b>dave</b>: splice crew on site",
                  "restored &lt;ok&gt;"):  # fmt: skip
        assert words in text
    asked = len(owner.sent)
    show(qtbot, window, [alarm(owner.notes)])  # nothing new: not asked again
    assert len(owner.sent) == asked


def test_a_bad_note_is_refused_before_sending_and_a_viewer_cannot_add_one(
    qtbot: Any, window: MainWindow
) -> None:
    b = window.alarms
    owner = Owner()
    b._request = owner
    show(qtbot, window, [alarm()])
    b.table.selectRow(0)
    b.write_note("line one\nline two")
    assert owner.sent == []
    assert "note not sent" in b.last_ack and "control character U+000A" in b.last_ack
    b.write_note(" ")
    assert owner.sent == [] and "empty" in b.last_ack

    reason = "key 'wallboard' has the viewer role; acknowledging and notes need operator"
    b.set_permission(False, reason)
    assert not b.note_button.isEnabled() and b.note_button.toolTip() == reason
    assert f"Read-only: {reason}" == b.permission.text()
    b.ask_note()
    b.write_note("still refused")
    assert b.note_dialog is None and owner.sent == []

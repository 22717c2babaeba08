"""The console's Qt widgets offscreen (pytest-qt) and its connection thread on real ZeroMQ
sockets, without a pool: a connection whose agent never answers says so and the GUI keeps
running; the alarm table's colours, filters, kept selection and ack buttons; themes,
the about box's versions, remembered window layout and column widths (QSettings); and
without a display it says so and exits 2."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel

from agent.busclient import Unreachable
from console.alarmlist import COLUMN_INDEX, COLUMNS
from console.connection import Connection, Snapshot, State
from console.mainwindow import MainWindow
from console.qtbridge import GuiPoster
from shared.model import AlarmKey
from tests.helpers.mute import silent_endpoint, silent_window

pytestmark = pytest.mark.timeout(60)


def snap(alarms: list[dict[str, Any]], **kw: Any) -> Snapshot:
    base: dict[str, Any] = dict(answered=["p1", "p2"], missing={}, state=State.ATTACHED,
                                detail="", node="p1", endpoint="tcp://127.0.0.1:1", last_resync=time.time(),
                                last_reason="no snapshot yet", reattaches=0, resyncs=1, applied=0)  # fmt: skip
    return Snapshot(**({"full": True, "removed": [], "total": len(alarms)} | base | kw),
                    alarms=alarms)  # fmt: skip


def alarm(ne: str, sev: str, obj: str = "if1", acked: str | None = None) -> dict[str, Any]:
    return {"ne": ne, "obj": obj, "type": "link-down", "severity": sev, "text": f"{ne} down",
            "active": True, "count": 1, "raised_at": 10.0, "last_seen": 10.0,
            "acked_by": acked, "agent": "p1"}  # fmt: skip


@pytest.fixture
def window(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    with silent_window(qtbot, tmp_path / "c.ini") as win:
        yield win


def test_a_silent_agent_is_a_state_on_the_gui_and_requests_fail_back_to_it():
    with silent_endpoint() as endpoint:
        posted: queue.Queue[Any] = queue.Queue()
        conn = Connection([endpoint], None, posted.put, timeout=0.3, interval=0.05)
        seen: list[Snapshot] = []
        conn.on_snapshot = seen.append
        errors: list[Exception] = []
        conn.start()
        try:
            conn.request("db.pool", on_result=lambda r: None, on_error=errors.append, timeout=0.3)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (errors and seen and
                                                       seen[-1].state == State.UNREACHABLE):  # fmt: skip
                try:
                    posted.get(timeout=0.5)()  # what the GUI thread would run
                except queue.Empty:
                    continue
            assert errors and isinstance(errors[0], Unreachable)
            last = seen[-1]
            assert last.state == State.UNREACHABLE and "no answer from mute" in last.detail
            assert not last.current and last.alarms == [] and last.node == ""
            # Nothing changes: nothing more is posted (coalesced, not a snapshot per tick).
            before = conn.posted
            time.sleep(0.5)
            assert conn.posted - before <= 1
        finally:
            conn.stop()
        conn.request("ping", on_result=lambda r: None, on_error=errors.append)
        posted.get(timeout=5)()
        assert "not running" in str(errors[-1])


def test_the_status_bar_follows_the_connection_while_the_gui_runs(qtbot: Any, window: MainWindow):
    window.start()
    window.show()
    qtbot.waitUntil(lambda: window.last is not None and window.last.state == State.UNREACHABLE,
                    timeout=20_000)  # fmt: skip
    assert State.UNREACHABLE in window.state_label.text()
    assert "no answer from mute" in window.state_label.text()
    window.refresh.emit()  # F5: a resync asked on the connection's thread, not waited for
    t0 = time.monotonic()
    qtbot.wait(200)  # the event loop turns while the connection times out behind it
    assert time.monotonic() - t0 < 2.0


def test_the_alarm_table_colours_filters_and_keeps_the_selection(qtbot: Any, window: MainWindow):
    b = window.alarms

    def shown(change: Any) -> None:  # the rows come back from the browser's worker
        with qtbot.waitSignal(b.rows_changed, timeout=5_000) as got:
            change()
        assert got.args[0] is b.model.rows

    shown(lambda: window._on_snapshot(snap([alarm("rtr1", "minor"), alarm("rtr2", "critical"),
                                            alarm("rtr3", "major", acked="carol")])))  # fmt: skip
    m = b.model
    assert m.rowCount() == 3 and m.columnCount() == len(COLUMNS)
    sev = m.index(0, COLUMN_INDEX["severity"])
    assert m.data(sev) == "CRITICAL"
    assert m.data(sev, Qt.ItemDataRole.BackgroundRole).color().name() == "#d32f2f"
    assert m.headerData(COLUMN_INDEX["ne"], Qt.Orientation.Horizontal) == "NE"
    assert "CRITICAL  1  (1 new)" in b.chips["critical"].text()
    assert "3 standing alarms · 3 shown" in b.totals.text()
    assert "Agent: <b>p1</b>" in window.agent_label.text()
    assert "first snapshot" in window.resync_label.text()

    b.table.selectRow(m.rows.row_of(AlarmKey("rtr3", "if1", "link-down")) or 0)
    assert b.ack_button.isEnabled() and b.unack_button.isEnabled()
    # What changed since: one raised, one cleared (a delta, as between resyncs).
    shown(lambda: window._on_snapshot(snap([alarm("rtr0", "critical")], full=False,
                                           removed=[AlarmKey("rtr2", "if1", "link-down")])))  # fmt: skip
    assert b.selected_keys() == [AlarmKey("rtr3", "if1", "link-down")]  # kept across a reset
    assert [r["ne"] for r in m.rows.rows] == ["rtr0", "rtr3", "rtr1"]

    shown(lambda: b.acked.setCurrentIndex(b.acked.findData("no")))
    assert m.rowCount() == 2 and "3 standing alarms · 2 shown" in b.totals.text()
    shown(lambda: b.ne.setCurrentIndex(b.ne.findData("rtr1")))
    assert m.rowCount() == 1 and m.rows.rows[0]["ne"] == "rtr1"
    shown(lambda: b.text.setText("nothing like this"))
    assert m.rowCount() == 0
    shown(lambda: b.text.setText(""))
    shown(lambda: m.sort(COLUMN_INDEX["ne"], Qt.SortOrder.AscendingOrder))  # a header click
    assert m.rowCount() == 1

    b.set_permission(False, "key 'w' has the viewer role; acknowledging needs operator")
    assert not b.ack_button.isEnabled()
    assert "Read-only: key 'w' has the viewer role" in b.permission.text()


def test_themes_about_and_views(qtbot: Any, window: MainWindow):
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    window.set_theme("light")
    light = app.palette().color(QPalette.ColorRole.Window).lightness()
    window.set_theme("dark")
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < light
    assert window.theme_actions["dark"].isChecked()
    about = window.about_text()
    for name in ("emspool", "Qt", "PySide6", "Python", "pyzmq"):
        assert f"<td>{name}</td>" in about
    extra = QLabel("topology")
    window.add_view("topology", "&Topology", extra)
    window.show_view("topology")
    assert window.tabs.currentWidget() is extra
    with pytest.raises(ValueError):
        window.add_view("topology", "again", QLabel())
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus == ["&File", "&View", "&Help"]


def test_layout_and_column_widths_are_remembered(qtbot: Any, tmp_path: Path):
    with silent_endpoint() as endpoint:
        ini = str(tmp_path / "layout.ini")
        poster = GuiPoster()

        def make() -> MainWindow:
            conn = Connection([endpoint], None, poster.post)
            w = MainWindow(conn, QSettings(ini, QSettings.Format.IniFormat))
            qtbot.addWidget(w)
            return w

        first = make()
        first.resize(700, 500)  # within the offscreen screen (800x600)
        first.alarms.table.horizontalHeader().resizeSection(COLUMN_INDEX["ne"], 233)
        first.tabs.setCurrentIndex(1)
        first.set_theme("light")
        first.close()  # closeEvent saves
        second = make()
        assert (second.width(), second.height()) == (700, 500)
        assert second.alarms.table.horizontalHeader().sectionSize(COLUMN_INDEX["ne"]) == 233
        assert second.tabs.currentIndex() == 1 and second.theme_actions["light"].isChecked()


def test_no_display_is_said_plainly(tmp_path: Path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "console.main"], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip
    assert proc.returncode == 2 and "no display" in proc.stderr

"""`emspool-console --screenshot FILE`: once the first data arrived (bounded wait), each
view of the main window rendered to a PNG, then exit. The first view goes to FILE, the
others beside it as FILE's stem + ``-KEY`` (``alarms.png``, ``alarms-pool.png``, ...)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QApplication

from console.mainwindow import MainWindow


def paths(first: Path, keys: list[str]) -> dict[str, Path]:
    out = {keys[0]: first} if keys else {}
    for k in keys[1:]:
        out[k] = first.with_name(f"{first.stem}-{k}{first.suffix or '.png'}")
    return out


def ready(win: MainWindow) -> bool:
    """The alarms are a full snapshot, shown, the pool tab has both of its answers, the
    topology tab (if any) both pictures and the event log tab (if any) its first page."""
    last = win.last
    shown = win.alarms.model.rows.summary.total
    topology = win.topology_feed is None or win.topology_feed.replies >= 2
    events = getattr(win.views.get("events"), "replies", 1) >= 1  # 1: no event log tab
    alarms = last is not None and last.current and shown == last.total
    return alarms and win.pool.replies >= 2 and topology and events


def render(win: MainWindow, first: Path) -> list[Path]:
    app = QApplication.instance()
    written = []
    for key, path in paths(first, list(win.views)).items():
        win.show_view(key)
        if app is not None:
            app.processEvents()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _picture(win).save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        written.append(path)
    return written


def _picture(win: MainWindow) -> QPixmap:
    """On a real display, what the window system shows of the window (so a test under
    Xvfb sees the real window); offscreen, the widgets rendered by Qt."""
    screen = win.screen()
    if QGuiApplication.platformName() in ("xcb", "wayland") and screen is not None:
        return screen.grabWindow(win.winId())
    return win.grab()


class Screenshot:
    """Polls until ``ready`` or ``wait`` seconds passed, renders, quits the application
    (exit code 0, or 1 when the data did not arrive in time: the pictures show that)."""

    def __init__(self, win: MainWindow, first: Path, wait: float) -> None:
        self.win, self.first = win, first
        self.deadline = time.monotonic() + wait
        self.settled = 0
        self.timer = QTimer(win)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        late = time.monotonic() >= self.deadline
        if not late and not ready(self.win):
            return
        self.settled += 1
        if self.settled < 3 and not late:  # a few ticks for the views to lay out and paint
            return
        self.timer.stop()
        for p in render(self.win, self.first):
            print(f"emspool-console: wrote {p}", file=sys.stderr)
        if late and not ready(self.win):
            print("emspool-console: the pool's data did not arrive in time; the pictures "
                  "show what was there", file=sys.stderr)  # fmt: skip
        QApplication.exit(0 if ready(self.win) else 1)

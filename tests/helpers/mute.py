"""A console on an agent that never answers: a bound TCP port that never speaks ZMTP, so
the console's requests time out and its state is 'unreachable'. For the GUI tests that
feed the window themselves."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from agent.busclient import Endpoint
from console.connection import Connection
from console.mainwindow import MainWindow
from console.qtbridge import GuiPoster


@contextmanager
def silent_endpoint() -> Iterator[Endpoint]:
    """The endpoint of a port open (and silent) until the block ends."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield Endpoint(f"tcp://127.0.0.1:{s.getsockname()[1]}", node="mute")
    finally:
        s.close()


@contextmanager
def silent_window(qtbot: Any, ini: Path) -> Iterator[MainWindow]:
    """A main window attached to a silent agent, settings in ``ini``, its alarm table's
    worker running and its first (empty) rows shown: a test feeds it snapshots itself."""
    with silent_endpoint() as endpoint:
        poster = GuiPoster()
        conn = Connection([endpoint], None, poster.post, timeout=0.3, interval=0.05)
        win = MainWindow(conn, QSettings(str(ini), QSettings.Format.IniFormat))
        qtbot.addWidget(win)
        win.alarms.start()
        # The table's initial sort (setSortingEnabled) is the worker's first input: its
        # rows are shown before a test feeds its own.
        qtbot.waitUntil(lambda: win.alarms.shown >= 1, timeout=5_000)
        try:
            yield win
        finally:
            win.stop()

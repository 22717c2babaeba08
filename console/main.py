"""`emspool-console`: the Qt operator console.

Attaches to a random agent of the pool (``--db`` for the agents' rows, or ``--agents``),
with its own bus key (``--key``), like the `emspool` CLI; ``--screenshot FILE`` renders the
views headless to PNG and exits. Without a display it says so and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agent.cliopts import WHERE_DB, Parser
from shared.errors import EmspoolError

NO_DISPLAY = 2


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="emspool-console", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", help=f"the pool database URL, to find the agents ({WHERE_DB})")
    p.add_argument(
        "--agents",
        help="agents to use, comma-separated node ids or tcp:// endpoints (default: every "
        "agent of the pool database; or $EMSPOOL_AGENT)",
    )
    p.add_argument(
        "--key", help="this console's bus key file (or $EMSPOOL_KEY; ~/.config/emspool/bus.key)"
    )
    p.add_argument("--theme", choices=("dark", "light"), help="(default: the remembered one)")
    p.add_argument("--settings", help="an INI file for the window layout instead of Qt's own")
    p.add_argument("--screenshot", metavar="FILE", help="render the views to PNG and exit")
    p.add_argument(
        "--screenshot-wait", type=float, default=30.0, help="seconds to wait for the data"
    )
    p.add_argument(
        "--install-desktop",
        action="store_true",
        help="install the desktop entry and icon for this user ($XDG_DATA_HOME, else "
        "~/.local/share) and exit",
    )
    return p


def has_display() -> bool:
    return any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def install_desktop() -> int:
    import shutil

    from console import desktop

    exe = shutil.which("emspool-console")
    if exe is None and Path(sys.argv[0]).name == "emspool-console":
        exe = str(Path(sys.argv[0]).resolve())  # a venv not on PATH: name it in full
    for path in desktop.install(executable=exe):
        print(f"emspool-console: installed {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.install_desktop:
        return install_desktop()
    if not has_display():
        print(
            "emspool-console: no display (DISPLAY and WAYLAND_DISPLAY are not set); run it on "
            "a desktop, use `emspool watch` in a terminal, or set QT_QPA_PLATFORM=offscreen "
            "with --screenshot",
            file=sys.stderr,
        )
        return NO_DISPLAY
    try:
        return _run(args)
    except EmspoolError as e:
        print(f"emspool-console: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from console import options
    from console.connection import Connection
    from console.eventtab import EventLogTab
    from console.mainwindow import MainWindow
    from console.qtbridge import GuiPoster
    from console.screenshot import Screenshot
    from console.topotab import TopologyFeed
    from console.topoview import TopologyWidget

    ns = options.cli_namespace(args.db, args.agents, args.key)
    key, _ = options.bus_key(ns)  # a bad key file is said before any window opens
    # Fractional scale factors as the desktop sets them (125 %, 150 %): sharp at 4K.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setOrganizationName("emspool")
    app.setApplicationName("emspool-console")  # X11 WM_CLASS: the desktop entry's StartupWMClass
    app.setApplicationDisplayName("emspool console")
    app.setDesktopFileName("emspool-console")
    app.setWindowIcon(QIcon.fromTheme("emspool-console"))
    settings = (
        QSettings(args.settings, QSettings.Format.IniFormat)
        if args.settings
        else QSettings("emspool", "console")
    )
    poster = GuiPoster()
    conn = Connection(options.endpoints(ns), key, poster.post)
    win = MainWindow(conn, settings)
    events = EventLogTab(conn.request)
    win.add_view("events", "&Event log", events)
    win.snapshot.connect(events.search_once_attached)  # the last 24 hours, newest first
    topology = TopologyWidget()
    win.add_view("topology", "&Topology", topology)
    feed = TopologyFeed(conn, topology, lambda: win.last.node if win.last else "", win)
    win.alarms.rows_changed.connect(feed.on_rows)
    win.snapshot.connect(feed.on_snapshot)
    win.topology_feed = feed
    if args.theme:
        win.set_theme(args.theme)
    conn.call(
        lambda: options.identity(ns, key),
        on_result=win.set_identity,
        on_error=lambda e: win.key_label.setText(f"Key: role unknown ({e})"),
    )
    win.start()
    feed.start()
    if args.screenshot:
        win.resize(1600, 900)
        win.screenshot = Screenshot(win, Path(args.screenshot), args.screenshot_wait)
    win.show()
    try:
        rc = app.exec()
    finally:
        feed.stop()
        win.stop()
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())

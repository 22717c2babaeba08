"""Memory of the console with 5,000 NEs and 50,000 standing alarms (issue 14's figure).

One offscreen process holding what a real console holds for such a pool: the connection's
live alarm view (50,000 alarms, as a ``pool.alarms`` snapshot leaves it) and the snapshot
it posts, the alarm browser's list and computed rows (sorted on its worker thread) shown
in the real main window, and the topology tab with the synthetic 5,000-NE, 8,050-link
pool of bench/console_topology.py laid out and painted, NEs coloured by those alarms. RSS
(/proc) after Qt and the imports, then after each part.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/console_memory.py [--alarms 50000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from bench.console_alarms import NOWHERE, live_view
from bench.console_topology import rss_mib
from console.connection import Connection, State
from console.mainwindow import MainWindow
from console.qtbridge import GuiPoster
from console.topoview import TopologyWidget
from lab.topogen import synthetic_pool
from shared.topology import worst_severities


def spin(app: QApplication, cond: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded
        app.processEvents()
        if callable(cond) and cond():
            return True
        time.sleep(0.01)
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alarms", type=int, default=50_000)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    poster = GuiPoster()
    conn = Connection(NOWHERE, None, poster.post)
    ini = Path("/tmp") / f"console-memory-{os.getpid()}.ini"
    win = MainWindow(conn, QSettings(str(ini), QSettings.Format.IniFormat))
    win.resize(1600, 900)
    win.show()
    app.processEvents()
    base = rss_mib()

    live, _client = live_view(args.alarms)
    conn._live, conn._state = live, State.ATTACHED  # as the connection's thread leaves them
    win.alarms.start()
    win._on_snapshot(conn.snapshot())
    shown = spin(app, lambda: win.alarms.model.rows.summary.total == args.alarms, 120)
    win.alarms.table.viewport().repaint()
    with_alarms = rss_mib()

    pool = synthetic_pool()
    topo = TopologyWidget()
    win.add_view("topology", "&Topology", topo)
    win.show_view("topology")
    topo.set_database(pool.topology_reply(fetched=time.time()), via="p1")
    topo.set_severities(worst_severities(win.alarms.model.rows.standing))
    topo.canvas.viewport().repaint()
    app.processEvents()
    with_topology = rss_mib()
    win.alarms.stop()

    total = with_topology
    print(f"console after Qt, imports and an empty main window: RSS {base:.0f} MiB")
    print(
        f"+ {args.alarms:,} standing alarms (live view, snapshot, browser rows; all shown: "
        f"{shown}): {with_alarms:.0f} MiB (+{with_alarms - base:.0f})"
    )
    print(
        f"+ topology of {len(pool.kinds):,} NEs / {len(pool.links):,} links laid out and "
        f"painted: {with_topology:.0f} MiB (+{with_topology - with_alarms:.0f})"
    )
    print(f"console total: {total:.0f} MiB")
    ini.unlink(missing_ok=True)
    return 0 if shown else 1


if __name__ == "__main__":
    raise SystemExit(main())

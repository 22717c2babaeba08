"""What 50,000 standing alarms cost the console (offscreen Qt, one process, no pool).

1. Connection thread: ``Connection.snapshot()`` of an ``AsyncLiveAlarms`` view holding N
   alarms (applied from a ``pool.alarms``-shaped reply, as after a resync): the copy each
   coalesced snapshot makes.
2. GUI thread: one snapshot taken by the alarm browser (``AlarmList.replace`` sort +
   filter + model reset + repaint of the visible rows), with no filter and with one.
3. A storm as the GUI sees it: a thread posts a fresh snapshot of N alarms (some changed
   each time) every ``--interval`` s through the real ``GuiPoster`` and the connection's
   one-in-flight rule, for ``--seconds``; a 10 ms QTimer measures how late the event
   loop runs it (the longest stall is what an operator would feel).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/console_alarms.py [--alarms 50000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from agent.busclient import AsyncBusClient, Endpoint  # noqa: E402
from agent.livealarms import AsyncLiveAlarms  # noqa: E402
from console.alarmlist import filter_of  # noqa: E402
from console.connection import Connection, Snapshot, State  # noqa: E402
from console.mainwindow import MainWindow  # noqa: E402
from console.qtbridge import GuiPoster  # noqa: E402

SEVS = ("critical", "major", "minor", "warning")


def items(n: int, stamp: float) -> list[dict[str, Any]]:
    rnd = random.Random(n)
    return [
        {"ne": f"ne{i // 10:05d}", "obj": f"if{i % 10}", "type": "link-down",
         "severity": SEVS[rnd.randrange(4)], "text": f"link down on if{i % 10}", "active": True,
         "count": 1, "first_seen": stamp, "last_seen": stamp + rnd.random() * 100,
         "raised_at": stamp, "acked_by": None if i % 3 else "carol", "acked_at": None,
         "agent": f"p{i % 3 + 1}"}
        for i in range(n)
    ]  # fmt: skip


def best(fn: Any, repeat: int = 5) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def snap_of(alarms: list[dict[str, Any]], applied: int) -> Snapshot:
    return Snapshot(alarms=alarms, answered=["p1", "p2", "p3"], missing={},
                    state=State.ATTACHED, detail="", node="p1", endpoint="tcp://127.0.0.1:1",
                    last_resync=time.time(), last_reason="periodic", reattaches=0, resyncs=1,
                    applied=applied)  # fmt: skip


def connection_copy(n: int) -> tuple[float, float]:
    """The real ``Connection.snapshot`` over a real view (no socket is opened)."""
    conn = Connection([Endpoint("tcp://127.0.0.1:9")], None, lambda fn: None)
    client = AsyncBusClient([Endpoint("tcp://127.0.0.1:9")])
    live = AsyncLiveAlarms(client)
    live.view.begin_resync()
    live.view.apply_snapshot({"items": items(n, time.time()), "answered": ["p1"]})
    conn._live = live  # as _main sets it on the connection's thread
    result = best(conn.snapshot)
    client._ctx.term()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alarms", type=int, default=50_000)
    ap.add_argument("--interval", type=float, default=0.15, help="the connection's default")
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    n = args.alarms
    app = QApplication(sys.argv[:1])

    lo, med = connection_copy(n)
    print(f"connection thread: snapshot copy of {n} alarms: best {lo * 1000:.0f} ms, "
          f"median {med * 1000:.0f} ms")  # fmt: skip

    poster = GuiPoster()
    conn = Connection([Endpoint("tcp://127.0.0.1:9")], None, poster.post)
    settings = QSettings(str(Path("/tmp") / f"console-bench-{os.getpid()}.ini"),
                         QSettings.Format.IniFormat)  # fmt: skip
    win = MainWindow(conn, settings)
    win.resize(1600, 900)
    win.show()
    app.processEvents()
    base = items(n, time.time())

    def take() -> None:
        win._on_snapshot(snap_of(base, 1))
        win.alarms.table.viewport().repaint()

    lo, med = best(take)
    print(f"GUI thread: one snapshot of {n} alarms, no filter (sort, model reset, repaint): "
          f"best {lo * 1000:.0f} ms, median {med * 1000:.0f} ms")  # fmt: skip
    win.alarms.model.reset_with(win.alarms.model.alarms.set_filter,
                                filter_of(min_severity="major", acked="no"))  # fmt: skip
    lo, med = best(take)
    print(f"GUI thread: the same with a filter (major and worse, unacknowledged; "
          f"{len(win.alarms.model.alarms)} shown): best {lo * 1000:.0f} ms, "
          f"median {med * 1000:.0f} ms")  # fmt: skip
    win.alarms.model.reset_with(win.alarms.model.alarms.set_filter, filter_of())

    # The storm: the connection's own rule (no new snapshot before the GUI took the last).
    taken = threading.Event()
    taken.set()
    stop = threading.Event()
    posted = [0]

    def deliver(s: Snapshot) -> None:
        taken.set()
        win._on_snapshot(s)

    def producer() -> None:
        rnd = random.Random(1)
        while not stop.is_set():
            time.sleep(args.interval)
            if not taken.is_set():
                continue
            alarms = [dict(a) for a in base]
            for a in rnd.sample(alarms, min(len(alarms), 500)):  # 500 changes per snapshot
                a["severity"] = SEVS[rnd.randrange(4)]
            taken.clear()
            posted[0] += 1
            poster.post(lambda s=snap_of(alarms, posted[0]): deliver(s))

    lateness: list[float] = []
    expected = [time.perf_counter() + 0.01]

    def tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, now - expected[0]))
        expected[0] = now + 0.01

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    worker = threading.Thread(target=producer, daemon=True)
    worker.start()
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)
    stop.set()
    worker.join()
    timer.stop()
    lateness.sort()
    p99 = lateness[int(len(lateness) * 0.99)] if lateness else 0.0
    print(f"storm: {posted[0]} snapshots of {n} alarms in {args.seconds:g} s "
          f"({posted[0] / args.seconds:.1f}/s, 500 changed each); GUI event loop late by "
          f"max {lateness[-1] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"median {statistics.median(lateness) * 1000:.1f} ms")  # fmt: skip
    win.close()


if __name__ == "__main__":
    main()

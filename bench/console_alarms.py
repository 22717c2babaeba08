"""What a pool of 50,000 standing alarms costs the console, and an alarm storm as the GUI
feels it (offscreen Qt, one process, no agents: the alarm events are fed to the real live
view, as its SUB socket would).

1. Connection thread: ``Connection.snapshot()`` after a resync (the whole set copied) and
   between resyncs (only the alarms that changed: 500 here).
2. The alarm browser's worker thread: ``AlarmList.rows()`` (sort, filter, summary), with no
   filter and with one.
3. GUI thread: taking one computed ``Rows`` (model reset, summary, repaint).
4. Storm: ``--rate`` alarm events/s (raised/changed/cleared on random alarms of the set)
   fed to the connection's real ``TrackedLiveAlarms`` on its own asyncio thread, with the
   connection's real coalescing publisher posting to the real main window for
   ``--seconds``; a 10 ms QTimer measures how late the GUI event loop runs (its longest
   stall is what an operator feels); at the end the browser's rows must equal the view.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/console_alarms.py [--alarms 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from agent.busclient import AsyncBusClient, Endpoint
from console.alarmlist import AlarmList, filter_of
from console.connection import Connection, State, TrackedLiveAlarms
from console.mainwindow import MainWindow
from console.qtbridge import GuiPoster
from shared.alarms import Change
from shared.alarmview import essence
from shared.livefeed import Sequencer

SEVS = ("critical", "major", "minor", "warning")
NOWHERE = [Endpoint("tcp://127.0.0.1:9")]  # never connected to: no socket is opened


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


def ms(pair: tuple[float, float]) -> str:
    return f"best {pair[0] * 1000:.0f} ms, median {pair[1] * 1000:.0f} ms"


def live_view(n: int) -> tuple[TrackedLiveAlarms, AsyncBusClient]:
    client = AsyncBusClient(NOWHERE)
    live = TrackedLiveAlarms(client)
    live.view.begin_resync()
    live.view.apply_snapshot({"items": items(n, time.time()), "answered": ["p1", "p2", "p3"]})
    return live, client


def event(seq: Sequencer, rnd: random.Random, n: int) -> dict[str, Any]:
    i = rnd.randrange(n)
    kind = rnd.choices((Change.CHANGED, Change.RAISED, Change.CLEARED), (8, 1, 1))[0]
    body = {"type": kind.value, "ne": f"ne{i // 10:05d}", "obj": f"if{i % 10}",
            "alarm_type": "link-down", "severity": SEVS[rnd.randrange(4)],
            "text": f"link down on if{i % 10}", "time": time.time()}  # fmt: skip
    return seq.stamp(body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alarms", type=int, default=50_000)
    ap.add_argument("--rate", type=float, default=1000.0, help="alarm events per second")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    n = args.alarms
    app = QApplication(sys.argv[:1])

    # 1. The connection's copies.
    live, client = live_view(n)
    conn = Connection(NOWHERE, None, lambda fn: None)
    conn._live = live  # as the connection's thread sets it when it starts

    def full() -> None:
        conn._posted_resyncs = -1
        conn.snapshot()

    def delta() -> None:
        live.dirty.update(list(live.view.alarms)[:500])
        conn.snapshot()

    print(f"connection thread, snapshot of {n} alarms after a resync: {ms(best(full))}")
    print(f"connection thread, snapshot between resyncs (500 changed): {ms(best(delta))}")

    # 2. The browser's worker.
    lst = AlarmList()
    lst.replace(items(n, time.time()))
    print(f"rows worker, rows() of {n} alarms, no filter: {ms(best(lst.rows))}")
    lst.set_filter(filter_of(min_severity="major", acked="no"))
    shown = len(lst.rows())
    print(f"rows worker, rows() with a filter ({shown} shown): {ms(best(lst.rows))}")
    lst.set_filter(filter_of())
    rows = lst.rows()

    # 3. The GUI thread's part.
    poster = GuiPoster()
    conn = Connection(NOWHERE, None, poster.post)
    ini = Path("/tmp") / f"console-bench-{os.getpid()}.ini"
    win = MainWindow(conn, QSettings(str(ini), QSettings.Format.IniFormat))
    win.resize(1600, 900)
    win.show()
    app.processEvents()

    def take() -> None:
        win.alarms.show_rows(rows)
        win.alarms.table.viewport().repaint()

    print(f"GUI thread, showing computed rows of {n} alarms: {ms(best(take))}")

    # 4. The storm.
    live, client2 = live_view(n)
    conn._live, conn._state = live, State.ATTACHED
    win.alarms.start()
    stop = threading.Event()
    fed = [0]

    async def producer() -> None:
        rnd = random.Random(7)
        seqs = [Sequencer(f"p{k}", "r1") for k in (1, 2, 3)]
        start = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - start) * args.rate)
            while fed[0] < due:
                live.take("event", event(seqs[fed[0] % 3], rnd, n))
                fed[0] += 1
            await asyncio.sleep(0.01)

    async def connection_thread() -> None:
        publisher = asyncio.create_task(conn._publish(live))  # the real coalescing loop
        try:
            await producer()
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher

    baseline = loop_lateness(app, min(5.0, args.seconds))
    print(f"baseline, GUI event loop with nothing else to do for {min(5.0, args.seconds):g} s: "
          f"late by max {baseline[-1] * 1000:.0f} ms, p99 {pct(baseline, 0.99) * 1000:.0f} ms "
          f"(the machine's own scheduling delays)")  # fmt: skip
    lateness: list[float] = []
    timer = lateness_timer(lateness)
    worker = threading.Thread(target=lambda: asyncio.run(connection_thread()), daemon=True)
    worker.start()
    spin(app, args.seconds)
    stop.set()
    worker.join()
    timer.stop()
    # Drain: the last changes reach the rows (one more snapshot, one more computation).
    asyncio.run(_final_publish(conn, live))
    settle = time.monotonic() + 30
    truth = live.view.summary()
    while time.monotonic() < settle and essence(win.alarms.model.rows.standing) != truth:
        app.processEvents()
        time.sleep(0.01)
    exact = essence(win.alarms.model.rows.standing) == truth
    lateness.sort()
    p99 = pct(lateness, 0.99)
    print(f"storm: {fed[0]} alarm events in {args.seconds:g} s ({fed[0] / args.seconds:.0f}/s) "
          f"on {n} standing alarms: {conn.posted} snapshots posted, "
          f"{win.alarms.worker.computed} row computations; GUI event loop late by max "
          f"{lateness[-1] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, median "
          f"{statistics.median(lateness) * 1000:.1f} ms; rows equal the view at the end: "
          f"{exact} ({len(truth)} alarms)")  # fmt: skip
    win.close()
    for c in (client, client2):
        c._ctx.term()
    ini.unlink(missing_ok=True)
    sys.stdout.flush()
    # Past here only interpreter teardown, where PySide6 6.12 may crash collecting widgets
    # after the application (seen once as "none_dealloc"): the figures are out already.
    os._exit(0)


def lateness_timer(into: list[float]) -> QTimer:
    """A 10 ms timer noting how late each of its ticks ran."""
    expected = [time.perf_counter() + 0.01]

    def tick() -> None:
        now = time.perf_counter()
        into.append(max(0.0, now - expected[0]))
        expected[0] = now + 0.01

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    return timer


def spin(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)


def loop_lateness(app: QApplication, seconds: float) -> list[float]:
    out: list[float] = []
    timer = lateness_timer(out)
    spin(app, seconds)
    timer.stop()
    return sorted(out)


def pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


async def _final_publish(conn: Connection, live: TrackedLiveAlarms) -> None:
    """One last pass of the real publisher, long enough for it to post what is left."""
    task = asyncio.create_task(conn._publish(live))
    await asyncio.sleep(conn.interval * 4)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    main()

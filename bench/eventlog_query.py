"""Peered event-log queries on a log of millions of rows, SQLite and PostgreSQL.

Fills a fresh database with ``--rows`` events (``--nes`` NEs, spread over ``--days`` days,
X.733 severities skewed as in a real log: mostly cleared/indeterminate, few critical), then
times each typical operator query (median of ``--repeat`` runs, wall ms) through
``Database.search_events`` / ``event_counts``: the first page, one NE, NE + severity, free text
within a day, deep keyset paging, counts. Prints one table per backend and the query plans'
index use where the backend tells it cheaply.

    .venv/bin/python bench/eventlog_query.py [--rows 1000000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.db import Database, migrate
from shared.eventquery import EventQuery
from shared.model import Event, EventType, Severity
from tests.helpers.pgdb import temp_pg_database

T_END = 1_800_000_000.0
_SEVERITY_WEIGHTS = [40, 25, 15, 10, 7, 3]  # cleared .. critical
_TYPES = [EventType.ALARM_RAISED, EventType.ALARM_CLEARED, EventType.TRAP, EventType.ALARM_ACKED]


def fill(db: Database, rows: int, nes: int, days: float, seed: int = 7) -> float:
    rng = random.Random(seed)
    t0 = T_END - days * 86400
    batch: list[Event] = []
    start = time.perf_counter()
    for i in range(rows):
        sev = Severity(rng.choices(range(6), _SEVERITY_WEIGHTS)[0])
        ne = f"ne{rng.randrange(nes):05d}"
        port = rng.randrange(1, 49)
        batch.append(
            Event(
                time=t0 + (i / rows) * days * 86400,
                ne=ne,
                type=rng.choice(_TYPES),
                severity=sev,
                text=f"Interface ge-0/0/{port} is down (admin up)"
                if i % 7
                else f"fan tray {port % 4} failed on {ne}",
                agent=f"agent-{rng.randrange(3)}",
                obj=f"ifIndex={port}",
                alarm_type="link-down" if i % 7 else "fan-failure",
            )
        )
        if len(batch) == 10_000:
            db.insert_events(batch)
            batch.clear()
    if batch:
        db.insert_events(batch)
    return time.perf_counter() - start


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def deep_page(db: Database, q: EventQuery, pages: int) -> int:
    cursor = None
    seen = 0
    for _ in range(pages):
        page = db.search_events(q, cursor=cursor, limit=100)
        seen += len(page.events)
        cursor = page.next_cursor
        if cursor is None:
            break
    return seen


def run(url: str, args: argparse.Namespace, name: str) -> None:
    migrate(url)
    db = Database.open(url)
    try:
        took = fill(db, args.rows, args.nes, args.days)
        print(f"\n{name}: {args.rows:,} events written in {took:.1f} s ({args.rows / took:,.0f}/s)")
        day = T_END - 86400
        queries: list[tuple[str, Callable[[], object]]] = [
            ("first page, newest first (100)", lambda: db.search_events(EventQuery())),
            (
                "first page, oldest first (100)",
                lambda: db.search_events(EventQuery(newest_first=False)),
            ),
            ("one NE (100)", lambda: db.search_events(EventQuery(nes=("ne00042",)))),
            (
                "one NE, >= major (100)",
                lambda: db.search_events(EventQuery(nes=("ne00042",), min_severity=Severity.MAJOR)),
            ),
            (
                "10 NEs (100)",
                lambda: db.search_events(EventQuery(nes=tuple(f"ne{i:05d}" for i in range(10)))),
            ),
            (
                "critical only, all time (100)",
                lambda: db.search_events(EventQuery(min_severity=Severity.CRITICAL)),
            ),
            (
                "text 'fan tray', last day (100)",
                lambda: db.search_events(EventQuery(since=day, text="fan tray")),
            ),
            ("text, rare, all time (100)", lambda: db.search_events(EventQuery(text="ne00042 "))),
            (
                "agent + alarm type, last day",
                lambda: db.search_events(
                    EventQuery(since=day, agents=("agent-1",), alarm_types=("fan-failure",))
                ),
            ),
            ("keyset: 100 pages of 100", lambda: deep_page(db, EventQuery(), 100)),
            ("counts by severity and NE, last day", lambda: db.event_counts(EventQuery(since=day))),
            ("counts, one NE, all time", lambda: db.event_counts(EventQuery(nes=("ne00042",)))),
        ]
        print(f"  {'query':44s} {'median ms':>10s}")
        for label, fn in queries:
            ms, _ = timed(fn, args.repeat)
            print(f"  {label:44s} {ms:10.1f}")
    finally:
        db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--nes", type=int, default=1000)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as d:
                run(f"sqlite:///{d}/events.db", args, "SQLite (WAL)")
        elif backend == "postgresql":
            with temp_pg_database() as url:
                run(url, args, "PostgreSQL")
        else:
            raise SystemExit(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()

"""Peered event-log queries at 5,000,000 rows: p50/p99 of the first page and of a deep page.

Sibling of bench/eventlog_query.py (same row mix: ``--nes`` NEs over ``--days`` days, X.733
severities skewed towards cleared, one row in seven a fan failure) with a loader fast enough
for millions of rows: SQLite through the driver's executemany in transactions of 100,000 rows,
PostgreSQL through COPY. The rows go into the migrated schema with its indexes in place, as in
a real log. Each query runs through ``Database.search_events`` / ``event_counts`` (the code the
``events.search`` bus op runs) ``--repeat`` times; the deep page starts at a cursor taken from
a real row half way through the query's matches, as a client paging back would hold.

    .venv/bin/python bench/eventlog_5m.py [--rows 5000000] [--backends sqlite,postgresql]
        [--from-revision 0006] [--keep FILE.db]

With ``--from-revision`` the log is built at that older schema: the bench measures, times
``emspool db upgrade`` on the full log (the migrations' backfill), and measures again. A
``--keep`` file already there is used as it is, at whatever schema it has (behind: the same).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy.engine import make_url

from agent.db import Database, migrate
from agent.dbengine import current_revision, head_revision
from shared.eventquery import Cursor, EventQuery
from shared.model import EventType, Severity
from tests.helpers.migrations import upgrade_to
from tests.helpers.pgdb import temp_pg_database

T_END = 1_800_000_000.0
_SEVERITY_WEIGHTS = [40, 25, 15, 10, 7, 3]  # cleared .. critical
_TYPES = [EventType.ALARM_RAISED, EventType.ALARM_CLEARED, EventType.TRAP, EventType.ALARM_ACKED]
_BATCH = 100_000


def rows(n: int, nes: int, days: float, seed: int = 7) -> Iterator[tuple[object, ...]]:
    """Event rows in the event_log column order (id, time, ne, type, severity, text, agent,
    obj, alarm_type), oldest first; ids random like the agents' UUIDs."""
    rng = random.Random(seed)
    t0 = T_END - days * 86400
    span = days * 86400
    sevs = rng.choices(range(6), _SEVERITY_WEIGHTS, k=n)
    for i in range(n):
        ne = f"ne{rng.randrange(nes):05d}"
        port = rng.randrange(1, 49)
        fan = i % 7 == 0
        yield (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            t0 + (i / n) * span,
            ne,
            str(rng.choice(_TYPES)),
            sevs[i],
            f"fan tray {port % 4} failed on {ne}"
            if fan
            else f"Interface ge-0/0/{port} is down (admin up)",
            f"agent-{rng.randrange(3)}",
            f"ifIndex={port}",
            "fan-failure" if fan else "link-down",
        )


def load_sqlite(path: str, args: argparse.Namespace) -> float:
    start = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA cache_size=-1000000")  # the loader's own connection only
    sql = (
        "INSERT INTO event_log (id, time, ne, type, severity, text, agent, obj, alarm_type) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    batch: list[tuple[object, ...]] = []
    for row in rows(args.rows, args.nes, args.days):
        batch.append(row)
        if len(batch) == _BATCH:
            with conn:
                conn.executemany(sql, batch)
            batch.clear()
    if batch:
        with conn:
            conn.executemany(sql, batch)
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - start


def load_postgresql(url: str, args: argparse.Namespace) -> float:
    start = time.perf_counter()
    u = make_url(url)
    dsn = f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"
    cols = "id, time, ne, type, severity, text, agent, obj, alarm_type"
    with psycopg.connect(dsn, autocommit=True) as conn:
        buf = io.StringIO()

        def flush() -> None:
            with conn.cursor() as cur, cur.copy(f"COPY event_log ({cols}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
            buf.seek(0)
            buf.truncate()

        for count, row in enumerate(rows(args.rows, args.nes, args.days), 1):
            # No tab, newline or backslash in the generated text: plain COPY text format.
            buf.write("\t".join(map(str, row)))
            buf.write("\n")
            if count % _BATCH == 0:
                flush()
        flush()
        conn.execute("VACUUM ANALYZE event_log")
    return time.perf_counter() - start


def pct(times: list[float], p: float) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # one warm-up run: the figure is the steady state, not the first touch of a page
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def deep_cursor(db: Database, q: EventQuery, t_mid: float) -> str | None:
    """The cursor a client holds after paging to the query's matches around ``t_mid``."""
    page = db.search_events(replace(q, since=t_mid) if q.newest_first else q, limit=100)
    if not page.events:
        return None
    last = page.events[-1]
    return Cursor(last.time, last.id, q.newest_first).encode()


def queries(args: argparse.Namespace) -> list[tuple[str, EventQuery]]:
    day = 86400.0
    mid = T_END - args.days * day / 2
    return [
        ("no filter", EventQuery()),
        ("no filter, oldest first", EventQuery(newest_first=False)),
        ("one NE", EventQuery(nes=("ne00042",))),
        ("one NE, >= major", EventQuery(nes=("ne00042",), min_severity=Severity.MAJOR)),
        ("10 NEs", EventQuery(nes=tuple(f"ne{i:05d}" for i in range(10)))),
        ("severity critical", EventQuery(min_severity=Severity.CRITICAL)),
        ("time range: one day mid-log", EventQuery(since=mid, until=mid + day)),
        ("type alarm-raised", EventQuery(types=(str(EventType.ALARM_RAISED),))),
        ("agent agent-1", EventQuery(agents=("agent-1",))),
        ("agent + alarm type, one day", EventQuery(since=mid, until=mid + day,
                                                   agents=("agent-1",),
                                                   alarm_types=("fan-failure",))),
        ("text 'fan tray'", EventQuery(text="fan tray")),
        ("text 'fan tray', one day", EventQuery(since=mid, until=mid + day, text="fan tray")),
        ("text rare 'on ne00042', all time", EventQuery(text="on ne00042")),
    ]  # fmt: skip


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


INDEX_ROUND = 50_000  # rows a call brings into the text index (the agents take 5,000)


def catch_up_text_index(db: Database) -> None:
    """SQLite: the rows loaded here join the FTS index the way the agents' rounds bring
    them in (``index_event_text``), before measuring: the agents keep it within a round of
    the log, and a search of a log far behind its index scans (TAIL_MAX)."""
    lag = db.text_index_lag()
    if not lag:
        return
    t, done = time.perf_counter(), 0
    for _ in range(lag // INDEX_ROUND + 10):  # bounded: the rows of the lag, and a few more
        n = db.index_event_text(INDEX_ROUND)
        done += n
        if n == 0:
            break
    print(
        f"  text index: {done:,} rows brought in by the agents' rounds in "
        f"{time.perf_counter() - t:.0f} s (rows still outside it: {db.text_index_lag():,})",
        flush=True,
    )


def measure(url: str, args: argparse.Namespace, name: str, took: float) -> None:
    db = Database.open(url)
    try:
        print(f"\n{name}: {db.count_events():,} events loaded in {took:.0f} s")
        catch_up_text_index(db)
        print(f"  load average before the queries: {load_average()}")
        print(f"  {'page of 100':36s} {'first p50':>9s} {'p99':>7s} {'deep p50':>9s} {'p99':>7s}")
        mid = T_END - args.days * 86400 / 2
        for label, q in queries(args):
            if args.only and args.only not in label:
                continue
            first = timed(lambda q=q: db.search_events(q), args.repeat)  # type: ignore[misc]
            cur = deep_cursor(db, q, mid if q.since is None else q.since + 43200)
            deep = (
                timed(lambda q=q, c=cur: db.search_events(q, cursor=c), args.repeat)  # type: ignore[misc]
                if cur
                else []
            )
            d = f"{pct(deep, 50):9.1f} {pct(deep, 99):7.1f}" if deep else f"{'-':>9s} {'-':>7s}"
            print(f"  {label:36s} {pct(first, 50):9.1f} {pct(first, 99):7.1f} {d}", flush=True)
        day = T_END - 86400
        counts = [
            ("counts, last day", EventQuery(since=day)),
            ("counts, one NE, all time", EventQuery(nes=("ne00042",))),
            ("counts, critical, last day", EventQuery(since=day, min_severity=Severity.CRITICAL)),
        ]
        for label, q in counts:
            if args.only and args.only not in label:
                continue
            t = timed(lambda q=q: db.event_counts(q), max(3, args.repeat // 4))  # type: ignore[misc]
            print(f"  {label:36s} {pct(t, 50):9.1f} {pct(t, 99):7.1f}", flush=True)
        print(f"  load average after the queries: {load_average()}")
    finally:
        db.close()


def upgrade_and_measure(url: str, args: argparse.Namespace, name: str, took: float) -> None:
    """Measure; when the schema is behind, time `emspool db upgrade` and measure again."""
    measure(url, args, name, took)
    before = current_revision(url)
    if before == head_revision():
        return
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "agent.cli", "--db", url, "db", "upgrade"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    print(f"\n{name}: emspool db upgrade {before} -> {head_revision()}: {took:.1f} s", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"upgrade failed: {done.stderr.strip()}")
    measure(url, args, f"{name}, upgraded", 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--nes", type=int, default=1000)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--only", help="run only the queries whose label contains this")
    ap.add_argument("--keep", help="SQLite: load into (or reuse) this file instead of a temp one")
    ap.add_argument("--from-revision", help="build the log at this older schema, then upgrade")
    args = ap.parse_args()

    def schema(url: str) -> None:
        if args.from_revision:
            upgrade_to(url, args.from_revision)
        else:
            migrate(url)

    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as d:
                path = args.keep or f"{d}/events.db"
                url = f"sqlite:///{path}"
                took = 0.0
                if not Path(path).exists():
                    schema(url)
                    took = load_sqlite(path, args)
                upgrade_and_measure(url, args, "SQLite (WAL)", took)
        elif backend == "postgresql":
            with temp_pg_database() as url:
                schema(url)
                took = load_postgresql(url, args)
                upgrade_and_measure(url, args, "PostgreSQL", took)
        else:
            raise SystemExit(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()

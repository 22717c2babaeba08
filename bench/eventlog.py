"""Event-log throughput: submit -> outbox -> event_log, against SQLite and PostgreSQL.

    .venv/bin/python bench/eventlog.py [--events 200000] [--skip-postgres]

For each backend it prints the end-to-end rate through OutboxWriter (every event made
durable in the local outbox first, then delivered) and, in the same run, the raw rate of
``Database.insert_events`` in batches of the same size, as the reference.
Targets: >= 20,000 events/s on SQLite, >= 10,000 on PostgreSQL. On SQLite it then times the
agents' indexing rounds bringing those events into the free-text index (agent/textsearch.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.db import Database, migrate
from agent.outbox import Outbox, OutboxWriter
from agent.runtime import TEXT_INDEX_ROWS
from shared.model import Event, EventType, Severity

TARGETS = {"sqlite": 20_000, "postgresql": 10_000}


def make_events(n: int) -> list[Event]:
    t0 = time.time()
    return [
        Event(
            time=t0 + i * 1e-4,
            ne=f"rtr{i % 500:04d}",
            type=EventType.ALARM_RAISED,
            severity=Severity(2 + i % 4),
            text=f"Interface GigabitEthernet0/{i % 48} down (ifIndex {i % 48})",
            agent="agent-01",
            obj=f"ifIndex.{i % 48}",
            alarm_type="link-down",
        )
        for i in range(n)
    ]


def raw_insert_rate(db: Database, events: list[Event], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(events), batch):
        db.insert_events(events[i : i + batch])
    return len(events) / (time.perf_counter() - start)


async def end_to_end_rate(
    db: Database, outbox_path: Path, events: list[Event], batch: int
) -> float:
    box = Outbox(outbox_path)
    writer = OutboxWriter(box, db, batch_size=batch, max_delay=0.05)
    task = asyncio.create_task(writer.run())
    start = time.perf_counter()
    try:
        # Producers submit in bursts, as pollers and trap receivers do between awaits.
        for i in range(0, len(events), 500):
            for e in events[i : i + 500]:
                writer.submit(e)
            await asyncio.sleep(0)
        deadline = time.monotonic() + 600
        while writer.delivered < len(events):
            if task.done():
                task.result()  # the writer died: show why
                raise RuntimeError("the writer stopped")
            if time.monotonic() > deadline:
                raise RuntimeError(f"stuck: {writer.counters()}")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        box.close()
    if writer.inserted != len(events) or db.count_events() < len(events):
        raise RuntimeError(f"lost events: {writer.counters()}")
    return len(events) / elapsed


def run_backend(
    name: str, make_url: Callable[[str], str], workdir: Path, n: int, batch: int
) -> None:
    """Raw inserts and the outbox path each get a fresh database of the same kind."""
    rates = []
    indexing = ""
    for label in ("raw", "e2e"):
        url = make_url(label)
        migrate(url)
        db = Database.open(url)
        try:
            if label == "raw":
                rates.append(raw_insert_rate(db, make_events(n), batch))
            else:
                outbox = workdir / f"outbox-{name}.db"
                rates.append(asyncio.run(end_to_end_rate(db, outbox, make_events(n), batch)))
                if db.text_index_lag():
                    indexing = f"  then text index {text_index_rate(db):,.0f} rows/s"
        finally:
            db.close()
    raw, e2e = rates
    verdict = "ok" if e2e >= TARGETS[name] else "BELOW TARGET"
    print(
        f"{name:10s} {n:>8,d} events  end-to-end {e2e:>9,.0f}/s  raw insert {raw:>9,.0f}/s  "
        f"ratio {e2e / raw:.2f}  target {TARGETS[name]:,}/s {verdict}{indexing}",
        flush=True,
    )


def text_index_rate(db: Database) -> float:
    """SQLite: how fast the agents' indexing rounds bring the events written into the FTS
    index afterwards (the work the outbox no longer does in its inserts)."""
    start, done = time.perf_counter(), 0
    for _ in range(100_000):  # bounded
        k = db.index_event_text(TEXT_INDEX_ROWS)
        if not k:
            break
        done += k
    return done / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    n, batch = args.events, args.batch

    with tempfile.TemporaryDirectory(prefix="emspool-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        run_backend("sqlite", lambda label: f"sqlite:///{work}/{label}.db", work, n, batch)
        if args.skip_postgres:
            return
        # Server from EMSPOOL_TEST_PG_URL (default: postgres@127.0.0.1:5432/test).
        from tests.helpers.pgdb import temp_pg_database

        def pg_url(label: str) -> str:
            return stack.enter_context(temp_pg_database(f"emspool_bench_{label}"))

        run_backend("postgresql", pg_url, work, n, batch)


if __name__ == "__main__":
    main()

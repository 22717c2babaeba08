"""The durable event-log outbox: database outages and crashes lose and duplicate nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from agent.db import Database, migrate
from agent.outbox import Outbox, OutboxWriter
from shared.model import Event, EventType, Severity
from tests.helpers.pgdb import BACKENDS, migrated_database, temp_pg_database
from tests.helpers.tcpproxy import TcpProxy
from tests.helpers.waiting import eventually


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    with migrated_database(request.param, tmp_path) as url:
        yield url


def dead_database_url() -> str:
    """A PostgreSQL URL on a loopback port where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/gone"


def new_events(n: int, start: int = 0) -> list[Event]:
    now = time.time()
    return [
        Event(
            time=now + (start + i) * 1e-3,
            ne=f"ne{(start + i) % 17}",
            type=EventType.ALARM_RAISED,
            severity=Severity.MAJOR,
            text=f"event {start + i}",
            agent="agent-a",
            obj=f"ifIndex.{i % 48}",
            alarm_type="link-down",
        )
        for i in range(n)
    ]


def stored_ids(url: str) -> list[str]:
    """Every id in event_log, duplicates included (read with a plain engine, not ours)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT id FROM event_log")).scalars())
    finally:
        engine.dispose()


@contextlib.asynccontextmanager
async def running(writer: OutboxWriter) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(writer.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def assert_exactly_once(url: str, submitted: list[Event]) -> None:
    ids = stored_ids(url)
    assert len(ids) == len(set(ids))
    assert set(ids) == {e.id for e in submitted}


@pytest.mark.timeout(30)
def test_outbox_keeps_order_and_survives_reopen(tmp_path):
    path = tmp_path / "spool" / "outbox.db"
    box = Outbox(path)
    events = new_events(250)
    assert box.append(events[:200]) == 200
    assert box.append(events[200:]) == 50
    assert box.pending() == 250
    assert box.peek(3) == events[:3]
    assert box.ack([e.id for e in events[:100]]) == 100
    box.close()
    box = Outbox(path)  # what a restarted agent sees
    try:
        assert box.pending() == 150
        # Acks of rows this process never appended nor peeked (found by id, not seq).
        assert box.ack([e.id for e in events[100:120]]) == 20
        assert box.peek(1000) == events[120:]
        assert box.ack([e.id for e in events[200:]]) == 50  # non-contiguous with the rest
        assert box.peek(1000) == events[120:200]
        assert box.pending() == 80
        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("SELECT count(*) FROM outbox").fetchone()[0] == 80
        finally:
            raw.close()
    finally:
        box.close()


@pytest.mark.timeout(60)
async def test_writer_delivers_in_batches(db_url, tmp_path):
    db = Database.open(db_url)
    box = Outbox(tmp_path / "outbox.db")
    writer = OutboxWriter(box, db, batch_size=100, max_delay=0.05)
    events = new_events(1050)
    try:
        async with running(writer):
            for i in range(0, len(events), 50):
                for e in events[i : i + 50]:
                    writer.submit(e)
                await asyncio.sleep(0)
            await eventually(lambda: writer.delivered == len(events), 20, "delivery")
        assert writer.counters() | {"last_error": None} == {
            "submitted": 1050,
            "appended": 1050,
            "delivered": 1050,
            "inserted": 1050,
            "pending": 0,
            "db_failures": 0,
            "last_error": None,
            "db_down": False,
        }
        assert box.pending() == 0
        assert_exactly_once(db_url, events)
        assert db.query_events(ne=events[-1].ne, limit=1)[0] == events[-1]  # fields intact
    finally:
        box.close()
        db.close()


@pytest.mark.timeout(60)
async def test_crashed_writer_outbox_is_replayed_exactly_once(db_url, tmp_path):
    """A writer dies (no flush) with events in its outbox, some already in the database
    but not yet acked; a new writer on the same outbox delivers each event exactly once."""
    outbox_path = tmp_path / "outbox.db"
    events = new_events(900)

    # The first life: the database refuses connections, so events pile up in the outbox.
    dead_db = Database.open(dead_database_url(), connect_timeout=1)
    box = Outbox(outbox_path)
    first = OutboxWriter(box, dead_db, batch_size=200, max_delay=0.02, backoff_initial=0.05)
    task = asyncio.create_task(first.run())
    for e in events[:600]:
        first.submit(e)
    await eventually(lambda: first.appended == 600 and first.db_failures > 0, 30, "outbox append")
    task.cancel()  # abandoned: no flush()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    box.close()
    dead_db.close()

    db = Database.open(db_url)
    # A crash between the database commit and the outbox ack: 250 rows are already there.
    assert db.insert_events(events[:250]) == 250
    box = Outbox(outbox_path)
    assert box.pending() == 600
    second = OutboxWriter(box, db, batch_size=200, max_delay=0.02)
    try:
        async with running(second):
            for e in events[600:]:
                second.submit(e)
            await eventually(lambda: second.pending == 0, 60, "replay")
        assert second.delivered == 900
        assert second.inserted == 650
        assert_exactly_once(db_url, events)
    finally:
        box.close()
        db.close()


async def _submit_through_outage(
    writer: OutboxWriter,
    start_outage: Callable[[], Awaitable[None]],
    end_outage: Callable[[], Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
) -> list[Event]:
    """Submit events before, during and after an outage; returns all submitted events."""
    submitted: list[Event] = []

    async def burst(rounds: int) -> None:
        for _ in range(rounds):
            batch = new_events(40, start=len(submitted))
            submitted.extend(batch)
            for e in batch:
                writer.submit(e)
            await asyncio.sleep(0.02)

    with caplog.at_level(logging.INFO, logger="agent.outbox"):
        async with running(writer):
            await burst(10)
            await eventually(lambda: writer.delivered > 0, 10, "first delivery")
            await start_outage()
            await burst(25)
            await eventually(lambda: writer.db_failures >= 2, 10, "failures during the outage")
            assert writer.counters()["db_down"] is True
            assert writer.outbox.pending() > 0  # held durably, not only in memory
            await end_outage()
            await burst(10)
            await eventually(lambda: writer.pending == 0, 30, "drain after the outage")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    back = [r for r in caplog.records if "database back" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # one per outage
    assert len(back) == 1
    return submitted


@pytest.mark.timeout(60)
async def test_sqlite_locked_for_a_while_loses_nothing(tmp_path, caplog):
    url = f"sqlite:///{tmp_path}/pool.db"
    migrate(url)
    db = Database.open(url, busy_timeout=0.1)
    box = Outbox(tmp_path / "outbox.db")
    writer = OutboxWriter(
        box, db, batch_size=100, max_delay=0.05, backoff_initial=0.05, backoff_max=0.4
    )
    locker = sqlite3.connect(tmp_path / "pool.db", isolation_level=None)

    async def lock() -> None:
        locker.execute("BEGIN EXCLUSIVE")

    async def unlock() -> None:
        locker.execute("ROLLBACK")

    try:
        submitted = await _submit_through_outage(writer, lock, unlock, caplog)
        assert_exactly_once(url, submitted)
        assert box.pending() == 0
        assert "locked" in (writer.last_error or "")
    finally:
        locker.close()
        box.close()
        db.close()


@pytest.mark.postgres
@pytest.mark.timeout(90)
async def test_postgresql_gone_and_back_loses_nothing(tmp_path, caplog):
    with temp_pg_database() as url:
        migrate(url)
        direct = make_url(url)
        proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
        port = await proxy.start()
        via_proxy = direct.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        db = Database.open(via_proxy, connect_timeout=1)
        box = Outbox(tmp_path / "outbox.db")
        writer = OutboxWriter(
            box, db, batch_size=100, max_delay=0.05, backoff_initial=0.05, backoff_max=0.4
        )
        try:
            submitted = await _submit_through_outage(writer, proxy.cut, proxy.restore, caplog)
            assert proxy.port == port
            assert proxy.connections >= 2  # it really reconnected through the proxy
            assert_exactly_once(url, submitted)
            assert box.pending() == 0
        finally:
            await proxy.close()
            box.close()
            db.close()


@pytest.mark.timeout(30)
async def test_flush_persists_the_buffer_when_the_database_is_down(tmp_path):
    db = Database.open(dead_database_url(), connect_timeout=1)
    box = Outbox(tmp_path / "outbox.db")
    writer = OutboxWriter(box, db, max_delay=10)
    try:
        events = new_events(30)
        for e in events:
            writer.submit(e)
        assert await writer.flush(timeout=5) is False
        assert writer.db_failures == 1
        assert box.peek(100) == events
        assert Path(tmp_path / "outbox.db").exists()
    finally:
        box.close()
        db.close()

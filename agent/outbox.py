"""Durable local outbox for the event log: a database outage or a crash loses no event.

Events go memory buffer -> local SQLite file (``synchronous=FULL``) -> pool database, and
leave the file only once the database has them. Each event carries a UUID and the database
ignores ids it already has, so replaying after a crash or a half-finished drain never
duplicates a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from agent.aiotools import shorten, with_deadline
from agent.db import Database
from shared.errors import DatabaseError
from shared.model import Event, Severity

log = logging.getLogger(__name__)

# No index on id: UUIDs are random, and deleting acked rows through a random index rewrote
# about one page per row (acks 10x slower at 200k pending). Acks go by seq, remembered below.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    payload TEXT NOT NULL
)
"""
# Bound on remembered id -> seq pairs; beyond it (a long outage) acks fall back to a scan.
_MAX_REMEMBERED = 200_000

# json.dumps() with options builds a new encoder per call; this one is built once.
_json_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encode(e: Event) -> str:
    # A positional array: about half the bytes and encode time of a dict.
    return _json_encode(
        [e.time, e.ne, e.type, int(e.severity), e.text, e.agent, e.obj, e.alarm_type]
    )


def _decode(event_id: str, payload: str) -> Event:
    t, ne, typ, sev, text, agent, obj, alarm_type = json.loads(payload)
    return Event(
        id=event_id,
        time=t,
        ne=ne,
        type=typ,
        severity=Severity(sev),
        text=text,
        agent=agent,
        obj=obj,
        alarm_type=alarm_type,
    )


class Outbox:
    """Pending events in a local SQLite file, oldest first. Thread-safe (one lock).

    The file may hold an event twice (an append retried after a cancelled one); the
    database ignores the second copy, so that costs a row, never a duplicate.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an append that returned survives a power cut, not only a process crash.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA cache_size=-32768")
            self._conn.execute(_SCHEMA)
            self._pending = int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
        except sqlite3.Error as e:
            raise DatabaseError(f"cannot open the outbox {self.path}: {e}") from e
        self._lock = threading.Lock()
        self._seqs: dict[str, int] = {}  # id -> seq of rows appended or peeked, not yet acked

    def append(self, events: Sequence[Event]) -> int:
        """Store events durably (fsynced) in one transaction; returns how many were stored."""
        if not events:
            return 0
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                row = self._conn.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
                ).fetchone()
                first = (row[0] if row else 0) + 1
                rows = [(first + i, e.id, _encode(e)) for i, e in enumerate(events)]
                self._conn.executemany(
                    "INSERT INTO outbox (seq, id, payload) VALUES (?, ?, ?)", rows
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise DatabaseError(f"appending to the outbox {self.path} failed: {e}") from e
            self._pending += len(rows)
            self._remember((e.id, first + i) for i, e in enumerate(events))
            return len(rows)

    def peek(self, limit: int) -> list[Event]:
        """Up to ``limit`` pending events, oldest first; they stay until acked."""
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT seq, id, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
                ).fetchall()
            except sqlite3.Error as e:
                raise DatabaseError(f"reading the outbox {self.path} failed: {e}") from e
            self._remember((event_id, seq) for seq, event_id, _ in rows)
        return [_decode(event_id, payload) for _, event_id, payload in rows]

    def ack(self, ids: Sequence[str]) -> int:
        """Forget events the database now holds; returns how many rows were removed."""
        if not ids:
            return 0
        with self._lock:
            unknown = [i for i in ids if i not in self._seqs]
            seqs = sorted({self._seqs.pop(i) for i in ids if i in self._seqs})
            try:
                # A lost ack only costs a replay, which the database ignores: skip the fsync
                # (~30 ms on a VM disk); the next append's FULL commit makes it durable anyway.
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute("BEGIN IMMEDIATE")
                removed = 0
                if seqs and seqs[-1] - seqs[0] + 1 == len(seqs):
                    removed += self._conn.execute(
                        "DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (seqs[0], seqs[-1])
                    ).rowcount
                elif seqs:
                    removed += self._conn.executemany(
                        "DELETE FROM outbox WHERE seq = ?", [(q,) for q in seqs]
                    ).rowcount
                if unknown:  # rare: more rows pending than we could remember
                    removed += self._conn.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
                        (json.dumps(unknown),),
                    ).rowcount
                self._conn.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise DatabaseError(f"acknowledging in the outbox {self.path} failed: {e}") from e
            finally:
                self._full_sync()
            self._pending -= removed
            return removed

    def _remember(self, pairs: Iterable[tuple[str, int]]) -> None:
        if len(self._seqs) > _MAX_REMEMBERED:
            self._seqs.clear()  # peek() re-learns what the drain needs
        self._seqs.update(pairs)

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _full_sync(self) -> None:
        try:
            self._conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error:
            log.exception("cannot restore synchronous=FULL on the outbox %s", self.path)

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("rollback of the outbox %s failed", self.path)


class OutboxWriter:
    """Moves submitted events into the outbox, then from the outbox into the database.

    ``submit`` is cheap and never blocks (hot path). ``run`` does the I/O in worker threads:
    every ``max_delay`` seconds, or as soon as ``batch_size`` events wait, it appends the
    buffer to the outbox and drains the outbox oldest first. While the database fails, the
    rows stay in the outbox and the drain is retried with capped exponential backoff.
    """

    def __init__(
        self,
        outbox: Outbox,
        database: Database,
        *,
        batch_size: int = 1000,
        max_delay: float = 0.2,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self.database = database
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._buffer: list[Event] = []
        self._in_flight = 0  # taken from the buffer, not yet committed to the outbox
        self._fresh: list[Event] | None = None  # == the outbox's content, oldest first
        self._wake = asyncio.Event()
        self._io = asyncio.Lock()  # one append/drain at a time: run() and flush() share it
        self._backoff = 0.0
        self._retry_at = 0.0
        self._flush_deadline: asyncio.Timeout | None = None
        self._hurry: float | None = None
        self._outage_since: float | None = None
        self._outage_failures = 0
        self.submitted = 0
        self.appended = 0
        self.delivered = 0  # acked after the database held them (replays included)
        self.inserted = 0  # of those, rows that were new to the database
        self.db_failures = 0
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        """Events not yet in the database: in memory plus in the outbox file."""
        return len(self._buffer) + self._in_flight + self.outbox.pending()

    def counters(self) -> dict[str, object]:
        return {
            "submitted": self.submitted,
            "appended": self.appended,
            "delivered": self.delivered,
            "inserted": self.inserted,
            "pending": self.pending,
            "db_failures": self.db_failures,
            "last_error": self.last_error,
            "db_down": self._outage_since is not None,
        }

    def submit(self, event: Event) -> None:
        self._buffer.append(event)
        self.submitted += 1
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def run(self) -> None:
        """Work until cancelled; events of a previous run still in the outbox go first."""
        try:
            while True:
                try:
                    await self._cycle(force=False)
                except DatabaseError as e:
                    # The local outbox file failed (disk full, permissions): keep the events
                    # in memory and try again next tick rather than killing the agent.
                    self._local_failure(e)
                with contextlib.suppress(TimeoutError):
                    await with_deadline(self._wake.wait(), self._next_timeout())
                self._wake.clear()
        except asyncio.CancelledError:
            # Make the memory buffer durable before we go; the DB drain is flush()'s job.
            self._append_now()
            raise

    async def flush(self, timeout: float) -> bool:
        """Shutdown: persist the buffer and try one last drain. True if nothing is pending.

        Whatever the database does, the buffer ends up in the outbox file before this
        returns; ``hurry`` may bring the deadline forward while it runs."""
        try:
            if self._hurry is not None:
                timeout = min(timeout, self._hurry)
            async with asyncio.timeout(timeout) as self._flush_deadline:
                await self._cycle(force=True)
        except TimeoutError:
            log.warning("event-log flush stopped at its deadline (%d pending)", self.pending)
        except DatabaseError as e:
            self._local_failure(e)
        finally:
            self._flush_deadline = None
        self._append_now()
        return self.pending == 0

    def hurry(self, seconds: float) -> None:
        """Let a flush in progress (or the next one) run at most ``seconds`` more."""
        self._hurry = seconds if self._hurry is None else min(self._hurry, seconds)
        if self._flush_deadline is not None:
            shorten(self._flush_deadline, seconds)

    def _next_timeout(self) -> float:
        if self._outage_since is None:
            return self.max_delay
        return max(0.0, min(self.max_delay, self._retry_at - time.monotonic()))

    async def _cycle(self, *, force: bool) -> None:
        async with self._io:
            await self._append_buffer()
            if force or time.monotonic() >= self._retry_at:
                await self._drain()

    async def _append_buffer(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        self._in_flight = len(batch)
        try:
            await asyncio.to_thread(self.outbox.append, batch)
        except BaseException:
            # Not stored (local disk error or cancellation): keep them, oldest first.
            self._buffer[:0] = batch
            self._fresh = None
            raise
        finally:
            self._in_flight = 0
        self.appended += len(batch)
        # Fast path: when the outbox holds exactly what we appended, the drain can use these
        # objects instead of reading and decoding them back (about a third of the work).
        fresh = (self._fresh or []) + batch
        self._fresh = fresh if self.outbox.pending() == len(fresh) else None

    def _append_now(self) -> None:
        """Blocking append from the event loop: only for shutdown paths."""
        self._fresh = None
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            self.outbox.append(batch)
        except DatabaseError:
            self._buffer[:0] = batch
            log.exception("could not persist %d events to the outbox", len(batch))
            return
        self.appended += len(batch)

    async def _drain(self) -> None:
        try:
            await self._drain_batches()
        except BaseException:
            self._fresh = None  # whatever happened, the outbox file is the truth again
            raise

    async def _drain_batches(self) -> None:
        while True:
            if self._fresh:
                rows = self._fresh[: self.batch_size]
                self._fresh = self._fresh[self.batch_size :]
            else:
                rows = await asyncio.to_thread(self.outbox.peek, self.batch_size)
            if not rows:
                return
            try:
                new = await asyncio.to_thread(self.database.insert_events, rows)
            except DatabaseError as e:
                self._fresh = None  # the rows stay in the outbox; the retry reads them back
                self._failed(e)
                return
            await asyncio.to_thread(self.outbox.ack, [e.id for e in rows])
            self.delivered += len(rows)
            self.inserted += new
            self._recovered()
            if len(rows) < self.batch_size:
                return
            # A long replay must not leave fresh events only in memory meanwhile.
            if len(self._buffer) >= self.batch_size:
                await self._append_buffer()

    def _local_failure(self, e: DatabaseError) -> None:
        if self.last_error != str(e):
            log.error("event log: outbox failure, %d events held in memory: %s", self.pending, e)
        self.last_error = str(e)

    def _failed(self, e: DatabaseError) -> None:
        self.db_failures += 1
        self._outage_failures += 1
        self.last_error = str(e)
        self._backoff = min(self.backoff_max, max(self.backoff_initial, self._backoff * 2))
        self._retry_at = time.monotonic() + self._backoff
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning(
                "event log: database unavailable, keeping events in the outbox %s (%s)",
                self.outbox.path,
                e,
            )

    def _recovered(self) -> None:
        if self._outage_since is None:
            return
        log.info(
            "event log: database back after %.1f s and %d failed attempts; %d events pending",
            time.monotonic() - self._outage_since,
            self._outage_failures,
            self.outbox.pending(),
        )
        self._outage_since = None
        self._outage_failures = 0
        self._backoff = 0.0
        self._retry_at = 0.0

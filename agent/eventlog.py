"""The event log's rows: batched inserts per backend, and row -> Event.

One job: the statements behind ``Database.insert_events``. Inserts skip ids already stored
(replaying the outbox is idempotent) and fit every value to its column, so one odd event
can never make a batch fail forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, text

from shared.model import Event, Severity

_SQLITE_INSERT_EVENTS = (
    "INSERT INTO event_log (id, time, ne, type, severity, text, agent, obj, alarm_type) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)
_PG_INSERT_EVENTS = text(
    "INSERT INTO event_log (id, time, ne, type, severity, text, agent, obj, alarm_type) "
    "SELECT * FROM unnest(CAST(:id AS text[]), CAST(:time AS float8[]), CAST(:ne AS text[]), "
    "CAST(:type AS text[]), CAST(:severity AS int2[]), CAST(:text AS text[]), "
    "CAST(:agent AS text[]), CAST(:obj AS text[]), CAST(:alarm_type AS text[])) "
    "ON CONFLICT (id) DO NOTHING"
)


def _clean(value: str, size: int) -> str:
    """Fit a string to its column: a too-long name or a NUL (PostgreSQL refuses it in text)
    must not turn one event into a batch that fails forever and blocks the outbox."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:size]


_TEXT_MAX = 65_536


def _event_tuple(e: Event) -> tuple[object, ...]:
    return (
        e.id,
        float(e.time),
        _clean(e.ne, 100),
        _clean(e.type, 30),
        int(e.severity),
        _clean(e.text, _TEXT_MAX),
        _clean(e.agent, 100),
        _clean(e.obj, 255),
        _clean(e.alarm_type, 100),
    )


def _event_arrays(rows: Sequence[Event]) -> dict[str, list[Any]]:
    return {
        "id": [e.id for e in rows],
        "time": [float(e.time) for e in rows],
        "ne": [_clean(e.ne, 100) for e in rows],
        "type": [_clean(e.type, 30) for e in rows],
        "severity": [int(e.severity) for e in rows],
        "text": [_clean(e.text, _TEXT_MAX) for e in rows],
        "agent": [_clean(e.agent, 100) for e in rows],
        "obj": [_clean(e.obj, 255) for e in rows],
        "alarm_type": [_clean(e.alarm_type, 100) for e in rows],
    }


def event_from_row(row: Row[Any]) -> Event:
    return Event(
        id=row.id,
        time=row.time,
        ne=row.ne,
        type=row.type,
        severity=Severity(row.severity),
        text=row.text,
        agent=row.agent,
        obj=row.obj,
        alarm_type=row.alarm_type,
    )


def insert_events(conn: Connection, dialect: str, rows: Sequence[Event]) -> int:
    """Insert events, skipping ids already stored; returns how many rows were new."""
    if dialect == "postgresql":
        # One statement over arrays: ~2x executemany, and its rowcount is exact.
        result = conn.execute(_PG_INSERT_EVENTS, _event_arrays(rows))
    else:
        # Driver-level executemany: ~30% less CPU than Core's per-row dict processing.
        tuples = [_event_tuple(e) for e in rows]
        result = conn.exec_driver_sql(_SQLITE_INSERT_EVENTS, tuples)
    return max(0, result.rowcount)

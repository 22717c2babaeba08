"""Rows keyed by name (profiles, NEs): the one way they are read and written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Table, insert, select, update

from shared.errors import DatabaseError


class InventoryConflict(DatabaseError):
    """An inventory change conflicts with what is stored (duplicate, still in use)."""


def named_row(conn: Connection, t: Table, name: str) -> Row[Any] | None:
    return conn.execute(select(t).where(t.c.name == name)).first()


def write_named_row(
    conn: Connection, t: Table, name: str, row: Row[Any] | None, values: dict[str, Any], now: float
) -> bool:
    """Insert the row ``name`` (with ``values``), or update the stored ``row`` to them;
    False when it was stored as is already (its ``updated`` time is then left alone)."""
    if row is None:
        conn.execute(insert(t).values(name=name, created=now, updated=now, **values))
        return True
    if all(getattr(row, k) == v for k, v in values.items()):
        return False
    conn.execute(update(t).where(t.c.name == name).values(updated=now, **values))
    return True

"""NE state snapshots in the database: the owner writes them (coalesced by
shared/snapshot.py), any agent reads them for the peered service."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select

from agent.db import Database
from shared.errors import DatabaseError
from shared.model import NeState
from shared.schema import ne_state
from shared.snapshot import Coalescer, seen_key

log = logging.getLogger(__name__)


def write_snapshots(db: Database, snaps: Sequence[Mapping[str, Any]]) -> None:
    """Replace the rows of these NEs in one transaction (delete + insert: the same on
    SQLite and PostgreSQL, and a batch of a few rows a second)."""
    if not snaps:
        return
    rows = [
        {
            "ne": str(s["ne"]),
            "agent": str(s["owner"]),
            "taken": float(s["taken"]),
            "reachable": s["reachable"],
            "snapshot": json.dumps(s, default=str),
        }
        for s in snaps
    ]
    with db.transaction(f"writing {len(rows)} NE state snapshots") as conn:
        conn.execute(delete(ne_state).where(ne_state.c.ne.in_([r["ne"] for r in rows])))
        conn.execute(insert(ne_state), rows)


def read_snapshots(db: Database, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    q = select(ne_state.c.ne, ne_state.c.snapshot)
    if names is not None:
        q = q.where(ne_state.c.ne.in_(list(names)))
    with db.transaction("reading NE state snapshots") as conn:
        rows = conn.execute(q).all()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        try:
            value = json.loads(r.snapshot)
        except ValueError:
            log.warning("NE state snapshot of %s unreadable, ignored", r.ne)
            continue
        if isinstance(value, dict):
            out[r.ne] = value
    return out


class SnapshotWriter:
    """Writes the managed NEs' snapshots when due; a database outage only delays them."""

    def __init__(
        self,
        db: Database,
        node_id: str,
        states: Callable[[], Iterable[NeState]],
        every: float = 30.0,
        tick: float = 1.0,
    ) -> None:
        self.db = db
        self.node_id = node_id
        self.states = states
        self.coalescer = Coalescer(every=every)
        self.tick = tick
        self.stats = {"written": 0, "failed": 0}

    async def run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.tick)
            states = list(self.states())
            snaps = self.coalescer.due(states, self.node_id, time.time())
            if not snaps:
                continue
            try:
                await asyncio.to_thread(write_snapshots, self.db, snaps)
            except DatabaseError as e:
                self.stats["failed"] += 1
                if not failing:
                    log.warning("NE state snapshots not written, retrying: %s", e)
                failing = True
                continue
            failing = False
            self.coalescer.written(snaps, {s.name: seen_key(s) for s in states})
            self.stats["written"] += len(snaps)

    def released(self, names: Iterable[str]) -> None:
        self.coalescer.forget(names)

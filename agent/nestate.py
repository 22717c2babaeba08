"""NE state snapshots in the database: the owner writes them (coalesced by
shared/snapshot.py), any agent reads them for the peered service. The same loop publishes
the NEs' material changes live (topic ``ne``, coalesced by shared/nefeed.py), so one look a
second at the managed NEs serves both."""

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
from shared.nefeed import NeChanges, ne_messages
from shared.schema import ne_state
from shared.snapshot import Coalescer

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
        publish: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.db = db
        self.node_id = node_id
        self.states = states
        self.coalescer = Coalescer(every=every)
        self.tick = tick
        self.publish = publish  # one live ``ne`` message body (agent/app.py stamps it)
        self.changes = NeChanges(every=tick)
        self.stats = {"written": 0, "failed": 0, "published": 0, "messages": 0}

    def publish_due(self, states: list[NeState], now: float) -> None:
        """The NEs whose state changed materially, a few messages for all of them: live
        clients hear of a change within a tick, whatever the database does."""
        if self.publish is None:
            return
        self.changes.keep_only(s.name for s in states)
        items = self.changes.due(states, self.node_id, now)
        for body in ne_messages(items):
            self.publish(body)
            self.stats["messages"] += 1
        self.stats["published"] += len(items)

    async def run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.tick)
            states = list(self.states())
            now = time.time()
            self.publish_due(states, now)
            snaps = self.coalescer.due(states, self.node_id, now)
            if not snaps:
                continue
            revisions = {s.name: s.revision for s in states}  # as the snapshots show them
            try:
                await asyncio.to_thread(write_snapshots, self.db, snaps)
            except DatabaseError as e:
                self.stats["failed"] += 1
                if not failing:
                    log.warning("NE state snapshots not written, retrying: %s", e)
                failing = True
                continue
            failing = False
            self.coalescer.written(snaps, revisions)
            self.stats["written"] += len(snaps)

    def released(self, names: Iterable[str]) -> None:
        names = list(names)
        self.coalescer.forget(names)
        self.changes.forget(names)

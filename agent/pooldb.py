"""The pool's rows in the database: the master lease (timed by the database's clock),
agent membership and the assignment table. Sync, called from worker threads like
agent/db.py, whose transactions and error mapping it uses.

The lease is the arbiter of who is master (see shared/election.py): taking it is one
atomic upsert that succeeds only when the row is free, expired or already ours, and it
always takes a new, larger epoch; renewing succeeds only for the same holder and epoch
while the lease has not run out. Both compare against the database's clock, never ours,
so agents with skewed clocks still agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, text, update

from agent.db import Database
from agent.dbengine import clock_sql
from shared.assign import Placement
from shared.schema import (
    agents,
    assignment_state,
    assignments,
    credential_profiles,
    master_lease,
    network_elements,
    snmp_engines,
)


@dataclass(frozen=True, slots=True)
class LeaseAnswer:
    acquired: bool
    holder: str
    epoch: int
    expires_in: float  # seconds of database time left on the holder's lease


@dataclass(frozen=True, slots=True)
class MemberRow:
    node_id: str
    priority: int
    endpoint: str
    pub_endpoint: str
    public_key: str
    zones: frozenset[str]
    weight: float
    capacity: int | None
    version: str
    state: str
    epoch: int
    started: float
    last_seen: float
    age: float  # seconds since last_seen, by database time
    managed: int = 0  # NEs the agent polls, as it last reported
    health: str = ""  # JSON object of poll and trap counters, as it last reported

    def to_dict(self) -> dict[str, object]:
        return {
            "node_id": self.node_id,
            "priority": self.priority,
            "endpoint": self.endpoint,
            "pub_endpoint": self.pub_endpoint,
            "zones": sorted(self.zones),
            "weight": self.weight,
            "capacity": self.capacity,
            "version": self.version,
            "state": self.state,
            "epoch": self.epoch,
            "started": self.started,
            "last_seen": self.last_seen,
            "age": self.age,
            "managed": self.managed,
            "health": self.health_dict(),
        }

    def health_dict(self) -> dict[str, object]:
        """The reported health; an unreadable or missing report is an empty one."""
        try:
            value = json.loads(self.health) if self.health else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class AssignmentTable:
    epoch: int
    version: int
    owners: dict[str, str]  # NE -> node id


class PoolDb:
    def __init__(self, db: Database) -> None:
        self.db = db
        now = clock_sql(db.dialect)
        # One statement each, so two agents racing for the lease cannot both win.
        self._acquire = text(
            "INSERT INTO master_lease (id, holder, epoch, expires) "
            f"VALUES (1, :me, 1, {now} + :ttl) "
            "ON CONFLICT (id) DO UPDATE SET holder = :me, epoch = master_lease.epoch + 1, "
            f"expires = {now} + :ttl "
            f"WHERE master_lease.expires <= {now} OR master_lease.holder = :me "
            "RETURNING epoch"
        )
        self._renew = text(
            f"UPDATE master_lease SET expires = {now} + :ttl "
            f"WHERE id = 1 AND holder = :me AND epoch = :epoch AND expires > {now}"
        )
        self._release = text(
            f"UPDATE master_lease SET expires = {now} "
            "WHERE id = 1 AND holder = :me AND epoch = :epoch"
        )
        self._read = text(f"SELECT holder, epoch, expires - {now} AS left FROM master_lease")
        # PostgreSQL: lock the lease row while the table is written, so a successor's
        # acquisition waits for (and then follows) our commit, never interleaves with it.
        # SQLite needs no lock: a write from a stale WAL snapshot fails (SQLITE_BUSY_SNAPSHOT).
        lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
        self._read_locked = text(
            f"SELECT holder, epoch, expires - {now} AS left FROM master_lease WHERE id = 1{lock}"
        )
        self._now = text(f"SELECT {now}")

    # -- the master lease ---------------------------------------------------------------

    def acquire_lease(self, me: str, ttl: float) -> LeaseAnswer:
        with self.db.transaction("taking the master lease") as conn:
            epoch = conn.execute(self._acquire, {"me": me, "ttl": ttl}).scalar()
            if epoch is not None:
                return LeaseAnswer(True, me, int(epoch), ttl)
            row = conn.execute(self._read).one()
            return LeaseAnswer(False, row.holder, int(row.epoch), float(row.left))

    def renew_lease(self, me: str, epoch: int, ttl: float) -> bool:
        with self.db.transaction("renewing the master lease") as conn:
            done = conn.execute(self._renew, {"me": me, "epoch": epoch, "ttl": ttl})
            return bool(done.rowcount)

    def release_lease(self, me: str, epoch: int) -> None:
        with self.db.transaction("releasing the master lease") as conn:
            conn.execute(self._release, {"me": me, "epoch": epoch})

    def lease(self) -> LeaseAnswer | None:
        with self.db.transaction("reading the master lease") as conn:
            row = conn.execute(self._read).first()
        if row is None:
            return None
        return LeaseAnswer(False, row.holder, int(row.epoch), float(row.left))

    # -- membership -----------------------------------------------------------------------

    def heartbeat(self, node_id: str, **values: object) -> None:
        """Create or refresh this agent's row (last_seen by database time)."""
        t = agents
        with self.db.transaction(f"updating agent {node_id!r}") as conn:
            now = float(conn.execute(self._now).scalar_one())
            row = {**values, "last_seen": now}
            if not conn.execute(update(t).where(t.c.node_id == node_id).values(**row)).rowcount:
                conn.execute(insert(t).values(node_id=node_id, started=now, **row))

    def members(self) -> list[MemberRow]:
        with self.db.transaction("listing agents") as conn:
            now = float(conn.execute(self._now).scalar_one())
            rows = conn.execute(select(agents).order_by(agents.c.node_id)).all()
        return [
            MemberRow(
                node_id=r.node_id,
                priority=r.priority,
                endpoint=r.endpoint,
                pub_endpoint=r.pub_endpoint,
                public_key=r.public_key,
                zones=frozenset(z for z in r.zones.split(",") if z),
                weight=r.weight,
                capacity=r.capacity,
                version=r.version,
                state=r.state,
                epoch=r.epoch,
                started=r.started,
                last_seen=r.last_seen,
                age=max(0.0, now - r.last_seen),
                managed=r.managed,
                health=r.health,
            )
            for r in rows
        ]

    def forget_member(self, node_id: str) -> bool:
        with self.db.transaction(f"removing agent {node_id!r}") as conn:
            return bool(conn.execute(delete(agents).where(agents.c.node_id == node_id)).rowcount)

    # -- the assignment table -------------------------------------------------------------

    def write_assignment(self, me: str, epoch: int, owners: Mapping[str, str]) -> int | None:
        """Replace the table if we still hold the lease at ``epoch`` (checked in the same
        transaction: a master that lost its lease writes nothing). Returns the new version,
        or None when fenced off."""
        with self.db.transaction("writing the assignment table") as conn:
            if not self._holds(conn, me, epoch):
                return None
            state = conn.execute(select(assignment_state)).first()
            version = (state.version if state else 0) + 1
            current = {
                r.ne: r.agent for r in conn.execute(select(assignments.c.ne, assignments.c.agent))
            }
            gone = [ne for ne in current if ne not in owners]
            if gone:
                conn.execute(delete(assignments).where(assignments.c.ne.in_(gone)))
            changed = [
                {"ne": ne, "agent": a, "epoch": epoch, "version": version}
                for ne, a in owners.items()
                if current.get(ne) != a
            ]
            if changed:
                conn.execute(
                    delete(assignments).where(assignments.c.ne.in_([c["ne"] for c in changed]))
                )
                conn.execute(insert(assignments), changed)
            now = float(conn.execute(self._now).scalar_one())
            values = {"epoch": epoch, "version": version, "written": now}
            if state is None:
                conn.execute(insert(assignment_state).values(id=1, **values))
            else:
                conn.execute(update(assignment_state).values(**values))
            return version

    def read_assignment(self, names: Sequence[str] | None = None) -> AssignmentTable:
        """The table; with ``names``, only their rows (a page of the inventory)."""
        q = select(assignments.c.ne, assignments.c.agent)
        if names is not None:
            q = q.where(assignments.c.ne.in_(list(names)))
        with self.db.transaction("reading the assignment table") as conn:
            state = conn.execute(select(assignment_state)).first()
            owners = {r.ne: r.agent for r in conn.execute(q)}
        if state is None:
            return AssignmentTable(0, 0, owners)
        return AssignmentTable(int(state.epoch), int(state.version), owners)

    def assignment_version(self) -> tuple[int, int]:
        """(epoch, version) of the table: one tiny row, read often as a safety net."""
        with self.db.transaction("reading the assignment version") as conn:
            state = conn.execute(select(assignment_state)).first()
        return (0, 0) if state is None else (int(state.epoch), int(state.version))

    # -- what the assigner places ---------------------------------------------------------

    def inventory_fingerprint(self) -> tuple[object, ...]:
        """What an agent's inventory is made of (NEs, credentials profiles, learnt engine
        IDs), as (rows, last change) of each: one small query instead of reading all of it.
        It differs after any of them is added, removed or changed."""
        parts = [
            (network_elements, network_elements.c.updated),
            (credential_profiles, credential_profiles.c.updated),
            (snmp_engines, snmp_engines.c.learned),
        ]
        q = select(
            *(select(func.count()).select_from(t).scalar_subquery() for t, _ in parts),
            *(select(func.max(c)).scalar_subquery() for _, c in parts),
        )
        with self.db.transaction("reading the inventory's fingerprint") as conn:
            return tuple(conn.execute(q).one())

    def placements(self) -> list[Placement]:
        """Every managed NE as the assigner needs it (name, zone, pin): three columns."""
        t = network_elements
        with self.db.transaction("reading NEs to place") as conn:
            rows = conn.execute(select(t.c.name, t.c.zone, t.c.pin).where(t.c.managed)).all()
        return [Placement(r.name, r.zone, r.pin) for r in rows]

    def _holds(self, conn: Connection, me: str, epoch: int) -> bool:
        row = conn.execute(self._read_locked).first()
        return row is not None and row.holder == me and row.epoch == epoch and row.left > 0

    def db_time(self) -> float:
        return self.db.db_time()


__all__ = ["AssignmentTable", "LeaseAnswer", "MemberRow", "PoolDb", "master_lease"]

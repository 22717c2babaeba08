"""What a fault test looks at in a pool: the lease, the assignment table and the event log
read straight from the database (the test's own connection, never the agents' proxies),
and each agent's view over its bus."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text, update

from agent import busclient
from agent.dbengine import clock_sql
from agent.keys import load_or_create, read_key_file
from shared.schema import assignment_state, assignments, event_log, network_elements


@dataclass(frozen=True)
class Lease:
    holder: str
    epoch: int
    left: float  # seconds of database time before it runs out (negative: it has)


class PoolDbView:
    """Read-only looks at a pool database, on a connection of the test's own."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    def lease(self) -> Lease | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    f"SELECT holder, epoch, expires - {clock_sql('postgresql')} AS left "
                    "FROM master_lease"
                )
            ).first()
        return None if row is None else Lease(row.holder, int(row.epoch), float(row.left))

    def assignment(self) -> tuple[int, dict[str, str]]:
        """(epoch, NE -> agent) of the table as written."""
        with self.engine.connect() as conn:
            state = conn.execute(select(assignment_state)).first()
            owners = {r.ne: r.agent for r in conn.execute(select(assignments))}
        return (int(state.epoch) if state else 0), owners

    def events(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(event_log))]


@dataclass(frozen=True)
class BusAddr:
    """How the test reaches one agent's bus: its ROUTER, its CURVE public key, and the
    test's own (allow-listed) key file."""

    router: str
    server_key: str
    key_file: Path

    def argv(self) -> list[str]:
        return [self.router, self.server_key, str(self.key_file)]


def request(
    addr: BusAddr, op: str, args: dict[str, Any] | None = None, timeout: float = 2.0
) -> Any:
    """A bus request; None if the agent did not answer in time."""
    ep = busclient.Endpoint(addr.router, addr.server_key)
    try:
        return busclient.request(ep, op, args, timeout, key=read_key_file(addr.key_file))
    except busclient.Unreachable:
        return None


def polls(addr: BusAddr) -> dict[str, tuple[int, bool]] | None:
    """NE -> (polls so far, reachable) as the agent tells; None if it does not answer."""
    states = request(addr, "ne_states")
    if states is None:
        return None
    return {s["name"]: (int(s["polls"]), bool(s["reachable"])) for s in states}


def duplicates(rows: list[dict[str, Any]], kinds: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    """(ne, obj, alarm_type, type) of ``kinds`` events written more than once."""
    c = Counter((r["ne"], r["obj"], r["alarm_type"], r["type"]) for r in rows if r["type"] in kinds)
    return {k: n for k, n in c.items() if n > 1}


@dataclass(frozen=True)
class Role:
    role: str  # as the agent's election has it: master, follower, electing, ...
    master: str
    epoch: int


def role(addr: BusAddr) -> Role | None:
    """The agent's own view of the election, over its bus; None if it does not answer."""
    st = request(addr, "status")
    if st is None:
        return None
    pool = st.get("pool") or {}
    return Role(str(pool.get("role", "")), str(pool.get("master", "")), int(pool.get("epoch", 0)))


@dataclass(frozen=True)
class Look:
    """One agent's answer: its election view and what it polls (NE -> (polls, reachable))."""

    role: Role
    nes: dict[str, tuple[int, bool]]


def look(addr: BusAddr) -> Look | None:
    r = role(addr)
    p = polls(addr) if r is not None else None
    return None if r is None or p is None else Look(r, p)


def settled(
    view: PoolDbView,
    looks: dict[str, Look | None],
    nes: set[str],
    *,
    reachable: bool = True,
) -> tuple[str, int, dict[str, str]] | None:
    """(master, epoch, owners) when the pool of the agents in ``looks`` (the live ones) is
    settled: exactly one of them is master, at the lease's epoch, the others follow it, the
    table (written at that epoch) gives every NE in ``nes`` to one of them, and each polls
    exactly the NEs the table gives it (``reachable``: and reaches them all). Else None."""
    lease = view.lease()
    if lease is None or lease.left <= 0 or any(lk is None for lk in looks.values()):
        return None
    seen = {n: lk for n, lk in looks.items() if lk is not None}
    masters = [n for n, lk in seen.items() if lk.role.role == "master"]
    if masters != [lease.holder]:
        return None
    if any(lk.role.master != lease.holder or lk.role.epoch != lease.epoch for lk in seen.values()):
        return None
    epoch, owners = view.assignment()
    if epoch != lease.epoch or set(owners) != nes or not set(owners.values()) <= set(seen):
        return None
    for n, lk in seen.items():
        if set(lk.nes) != {ne for ne, a in owners.items() if a == n}:
            return None
        if reachable and not all(ok for _, ok in lk.nes.values()):
            return None
    return lease.holder, lease.epoch, owners


def set_nes(url: str, values: dict[str, dict[str, object]]) -> None:
    """Change inventory columns of NEs (NE -> column -> value) before the agents start,
    e.g. ``pin`` so each agent surely owns some (the assignment is otherwise a hash, and a
    small pool may leave one with none)."""
    engine = create_engine(url)
    t = network_elements
    try:
        with engine.begin() as conn:
            for ne, cols in values.items():
                conn.execute(update(t).where(t.c.name == ne).values(**cols))
    finally:
        engine.dispose()


_STAMP = "%Y-%m-%d %H:%M:%S,%f"
_ROLE_LINE = re.compile(r" pool: (?P<role>\w+), master (?P<master>\S+), epoch (?P<epoch>\d+)")


def role_changes(log_path: Path) -> list[tuple[float, str, str, int]]:
    """(wall time, role, master, epoch) of every "pool: <role>, master <m>, epoch <e>" line
    an agent logged (the text format), for ordering what two agents did on one host."""
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        m = _ROLE_LINE.search(line)
        if m is not None:
            t = datetime.strptime(line[:23], _STAMP).timestamp()
            out.append((t, m["role"], m["master"], int(m["epoch"])))
    return out


def agent_bus(router: str, data_dir: Path, key_file: Path) -> BusAddr:
    """The bus address of an agent not started yet: its key pair is made here in its
    ``data_dir`` (where the agent would make it at its first start), so the test knows the
    public key from the beginning."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pair, _ = load_or_create(data_dir / "bus.key", data_dir.name)
    return BusAddr(router, pair.public, key_file)

"""The assignment follower: which NEs this agent manages, from the master's table.

Every agent runs one (the master too: its assigner hands it the table directly). Tables
arrive two ways: the master's AssignmentNotice on the bus (fast), and the database's table,
whose (epoch, version) is read every TABLE_CHECK as a safety net for a lost notice. A
notice older than the highest epoch seen is rejected and counted (fencing); the
database's table is written fenced by the lease, so it is always one a master was entitled
to write. The NEs of the newest table that name this agent go to the managed set
(agent/managed.py):

- NEs released: polling stops, then the outbox is flushed, so the taker finds their last
  transitions in the event log;
- NEs taken: their standing alarms are rebuilt from the event log, then they are polled
  at once (not at their phase).

Doubt: an agent that notices it was paused (its loop stood still longer than
``dead_after``: SIGSTOP, a VM freeze) or whose master changed holds every poll
(``may_poll``) until it has read the table again, since its NEs may have moved meanwhile.
If the database cannot be read, it goes on polling what it has: during a database outage
existing assignments keep polling.

Cut off: an agent that neither reads the database (no table read for ``DB_RECENT``) nor
hears a majority of the pool on the bus (the election's quorum)
skips every poll: the majority may have given its NEs to others already, and it has no way
to learn so. It stops about when the majority's master sees it dead (``dead_after``), so the
window in which its NEs might be polled twice is a fraction of a second. With the
database, or with the majority heard (the whole pool lost the database), polling goes on.

The inventory (NEs, profiles, learnt engine IDs) is read when its fingerprint (rows and
last change of each) differs at a look every INVENTORY_REFRESH, every INVENTORY_FULL in
any case, on a reload, and whenever the table names an NE this agent has not read yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from typing import TYPE_CHECKING, Any

from agent.pooldb import AssignmentTable, PoolDb
from shared.election import Became
from shared.errors import DatabaseError
from shared.model import CredentialProfile, NetworkElement
from shared.poolwire import AssignmentNotice, from_args
from shared.wire import KeyRole

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.bus import Bus

log = logging.getLogger(__name__)

NOTICE_OP = "pool.assignment"
TICK = 0.25  # seconds between looks (pause detection, pending tables)
TABLE_CHECK = 1.0  # seconds between reads of the table's (epoch, version)
INVENTORY_REFRESH = 5.0  # seconds between looks at the inventory's fingerprint
# Seconds between whole inventory reads even when the fingerprint is unchanged: it misses
# a change only when a delete and an insert stamped with an older clock cancel out.
INVENTORY_FULL = 60.0
DB_DEADLINE = 5.0  # seconds a read may take before this agent stops waiting for it
RELEASE_FLUSH = 2.0  # seconds the outbox flush after a release may take
HOLD_MAX = 5.0  # seconds a poll waits for a doubt to end before it skips its slot
SLOW_ROUND = 3.0  # seconds: a round of the follow loop this slow is logged
RELEASE_SPREAD = 1.0  # seconds over which polls held by a doubt go ahead once it ends
DOUBT_MAX = 6.0  # seconds a doubt lasts at most (the table unreadable that long: an outage)
HANDOVER_GRACE = 0.3  # seconds a taker gives a live releasing agent to flush its outbox
DB_RECENT = TABLE_CHECK + 2 * TICK  # seconds since the last table read: database reached


class Follower:
    def __init__(self, agent: Agent, pool: PoolDb) -> None:
        self.agent = agent
        self.pool = pool
        self.me = agent.node_id
        self.owners: dict[str, str] = {}  # the table applied: NE -> node id
        self.applied: tuple[int, int] = (0, 0)  # its (epoch, version)
        self.max_epoch = 0  # the highest epoch of any table seen
        self.stats = dict.fromkeys(
            (
                "accepted",
                "rejected",
                "duplicates",
                "tables_read",
                "read_errors",
                "doubts",
                "doubts_expired",
                "taken",
                "released",
                "cut_off_skips",
                "inventory_reads",
            ),
            0,
        )
        self._pending: AssignmentTable | None = None
        self._wake = asyncio.Event()
        self._reload = True
        self._nes: list[NetworkElement] | None = None
        self._profiles: dict[str, CredentialProfile] = {}
        self._engines: dict[str, str] | None = None  # fresh from the database, not yet given
        self._fingerprint: tuple[object, ...] = ()  # of the inventory last read
        self._inventory_read = 0.0  # loop time of that read
        self._owned: set[str] = set()
        self._applied_once = False
        self._doubt = ""  # why polls are held until the table is read again ("" none)
        self._trusted = asyncio.Event()  # set while not in doubt
        self._trusted.set()
        self._doubt_until = 0.0
        self._master = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_tick = 0.0
        self._paused_after = agent.config.pool.dead_after + TICK
        self._db_seen = 0.0  # loop time of the last table read that worked
        self._cut_off = False
        # A majority unheard for dead_after, as the election counts it (a shorter window
        # stopped the polls of a loaded agent during fault test 5's outage).
        self._quorum_within: float | None = None

    def route(self, bus: Bus) -> None:
        bus.route(NOTICE_OP, self.on_notice, role=KeyRole.AGENT)

    # -- inputs ----------------------------------------------------------------------------
    async def on_notice(self, args: dict[str, Any]) -> dict[str, Any]:
        notice: AssignmentNotice = from_args(args, AssignmentNotice)
        self.offer(notice, source=f"notice from {notice.master}")
        return {}

    def offer(self, notice: AssignmentNotice, source: str) -> bool:
        """A master's table; True if it will be applied (newest, not fenced off)."""
        election = self.agent.election
        highest = max(self.max_epoch, election.epoch if election else 0)
        if notice.epoch < highest:
            self.stats["rejected"] += 1
            log.warning(
                "assignment of epoch %d (%s) rejected: epoch %d is current",
                notice.epoch,
                source,
                highest,
            )
            return False
        if (notice.epoch, notice.version) <= self._newest():
            self.stats["duplicates"] += 1
            return False
        self.max_epoch = notice.epoch
        self._pending = AssignmentTable(notice.epoch, notice.version, dict(notice.owners))
        self._wake.set()
        return True

    def on_became(self, b: Became) -> None:
        if b.master != self._master:
            if self._master or b.master == self.me:
                self.doubt(f"master now {b.master or 'none'}")
            self._master = b.master

    def reload(self) -> None:
        self._reload = True
        self._wake.set()

    def doubt(self, why: str) -> None:
        """Hold polls until the table has been read again."""
        if not self._doubt:
            self.stats["doubts"] += 1
            log.info("polls held until the assignment is read again: %s", why)
        if not self._doubt and self._loop is not None:
            self._doubt_until = self._loop.time() + DOUBT_MAX
        self._doubt = why
        self._trusted.clear()
        self._wake.set()

    def _trust(self) -> None:
        self._doubt = ""
        self._trusted.set()

    def _check_pause(self) -> None:
        if self._loop is None:
            return
        now = self._loop.time()
        if now - self._last_tick > self._paused_after:
            self.doubt(f"the agent stood still for {now - self._last_tick:.1f} s")
        elif self._doubt and now > self._doubt_until:
            # The table could not be read again in time (a database this slow is as good
            # as out): the assignment stands, as in an outage.
            self.stats["doubts_expired"] += 1
            log.warning("assignment not read again within %g s: polling goes on", DOUBT_MAX)
            self._trust()

    async def may_poll(self, ne: str) -> bool | None:
        """The pollers' gate: while in doubt a poll waits (HOLD_MAX at most) for the table
        to be read again, then goes ahead if the doubt is gone; one still held gets False
        (it asks again; the doubt ends only once the table is read and applied, so an NE
        moved away meanwhile is cancelled first). Cut off: None, the slot is skipped (the
        majority may have moved the NE, and nothing here would say so before a poll). It
        also notices a pause itself, since after SIGCONT a poll's timer may run first."""
        self._check_pause()
        if self.cut_off():
            self.stats["cut_off_skips"] += 1
            return None
        if not self._doubt:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HOLD_MAX):
                await self._trusted.wait()
        if self._doubt:
            return False
        # Every poll held by a long doubt would go at once: spread them a little.
        await asyncio.sleep((zlib.crc32(ne.encode()) % 1000) / 1000 * RELEASE_SPREAD)
        return not self._doubt

    def cut_off(self) -> bool:
        """Neither the database read lately nor a majority of the pool heard on the bus."""
        election, loop = self.agent.election, self._loop
        if election is None or loop is None:
            return False
        now = loop.time()
        cut = now - self._db_seen > DB_RECENT and not election.has_quorum(
            now, within=self._quorum_within
        )
        if cut != self._cut_off:
            self._cut_off = cut
            if cut:
                heard, voters = election.quorum_view(now, within=self._quorum_within)
                log.warning(
                    "cut off from the database and the pool's majority (heard %s of %s): "
                    "polls stopped",
                    ",".join(sorted(heard)),
                    ",".join(sorted(voters)),
                )
            else:
                log.info("database or the pool's majority back: polling")
        return cut

    def owner_of(self, ne: str) -> str:
        return self.owners.get(ne, "")

    def moved(self, owners: dict[str, str]) -> set[str]:
        return {ne for ne, a in owners.items() if self.owners.get(ne, a) != a}

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._last_tick = loop.time()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch_clock(loop), name="pause-watch")
            tg.create_task(self._follow(loop), name="follow")

    async def _watch_clock(self, loop: asyncio.AbstractEventLoop) -> None:
        """Notice a pause: this task's own sleeps came back far too late. Kept apart from
        the follow loop, whose database reads may legitimately take a while."""
        while True:
            await asyncio.sleep(TICK)
            self._check_pause()
            self._last_tick = loop.time()

    async def _follow(self, loop: asyncio.AbstractEventLoop) -> None:
        next_check = next_inventory = 0.0
        while True:
            now = loop.time()
            if self._reload or now >= next_inventory:
                forced, self._reload = self._reload, False
                next_inventory = now + INVENTORY_REFRESH
                if await self._read_inventory(forced) and self._pending is None:
                    await self._apply(None)  # new NE details, the same owners
            if self._doubt or now >= next_check:
                next_check = now + TABLE_CHECK
                doubts = self.stats["doubts"]
                read = await self._check_table()
                if self._doubt:
                    if self._pending is not None:
                        table, self._pending = self._pending, None
                        await self._apply(table)
                    if self.stats["doubts"] == doubts:  # no new doubt while reading
                        if read:
                            log.info("assignment read again: polling")
                        else:  # the database is out: the assignment stands
                            log.warning("assignment not readable: polling goes on as assigned")
                        self._trust()
            if self._pending is not None:
                table, self._pending = self._pending, None
                await self._apply(table)
            took = loop.time() - now
            if took > SLOW_ROUND:
                log.warning("assignment follower: one round took %.1f s", took)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()

    def _newest(self) -> tuple[int, int]:
        p = self._pending
        return max(self.applied, (p.epoch, p.version) if p else (0, 0))

    async def _check_table(self) -> bool:
        """Read the table's (epoch, version), and the table if it is newer than ours."""
        try:
            async with asyncio.timeout(DB_DEADLINE):
                seen = await asyncio.to_thread(self.pool.assignment_version)
                if seen > self._newest():
                    table = await asyncio.to_thread(self.pool.read_assignment)
                    self.stats["tables_read"] += 1
                    if (table.epoch, table.version) > self._newest():
                        self.max_epoch = max(self.max_epoch, table.epoch)
                        self._pending = table
        except (DatabaseError, TimeoutError) as e:
            self.stats["read_errors"] += 1
            log.debug("assignment version not readable: %s", e)
            return False
        if self._loop is not None:
            self._db_seen = self._loop.time()
        return True

    async def _read_inventory(self, forced: bool = True) -> bool:
        """Read the inventory; unless ``forced``, only when its fingerprint changed (or
        INVENTORY_FULL passed): reading and applying 3,000 NEs every few seconds cost
        a fifth of an agent's CPU. True when read."""
        a = self.agent
        db = a.db
        assert db is not None
        await a.trap_sources.save(db)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(DB_DEADLINE):
                seen = await asyncio.to_thread(self.pool.inventory_fingerprint)
                if (
                    not forced
                    and self._nes is not None
                    and seen == self._fingerprint
                    and loop.time() < self._inventory_read + INVENTORY_FULL
                ):
                    return False
                nes, profiles, engines = await asyncio.to_thread(
                    lambda: (db.list_nes(), db.get_profiles(), db.learned_engines())
                )
        except (DatabaseError, TimeoutError) as e:
            if self._nes is not None:
                log.warning("inventory not readable, keeping the current set: %s", e)
            return False
        self._fingerprint, self._inventory_read = seen, loop.time()
        self.stats["inventory_reads"] += 1
        # Profiles in the agent's own config win: local secrets stay local.
        profiles.update({p.name: p for p in a.config.profiles})
        self._nes, self._profiles, self._engines = nes, profiles, engines
        return True

    async def _apply(self, table: AssignmentTable | None) -> None:
        """Make the managed set follow ``table`` (None: the applied one, new NE details)."""
        owners = self.owners if table is None else table.owners
        owned = {ne for ne, node in owners.items() if node == self.me}
        known = {ne.name for ne in self._nes or []}
        dropped = {ne for ne in self._owned - owned if ne not in owners}
        if self._nes is None or owned - known or dropped:
            # The table names NEs added since the last read, or no longer lists some of
            # ours (removed, unmanaged): read the inventory so their alarms close right.
            await self._read_inventory()
        if self._nes is None:
            if table is not None:
                self._pending = table  # no inventory yet: try again at the next tick
            return
        a = self.agent
        taken, released = owned - self._owned, self._owned - owned
        if self._applied_once and self._from_live_agent(taken):
            # A graceful move: give the releasing agent a moment to flush the NEs' last
            # transitions to the event log before their alarms are rebuilt from it.
            await asyncio.sleep(HANDOVER_GRACE)
        new = sorted(n for n in owned if n not in a.model.states)
        clock = asyncio.get_running_loop().time
        t0 = clock()
        history = await a.managed.alarm_history(new) if new else []
        t1 = clock()
        seen_up = await a.managed.seen_up(new) if new else {}
        t2 = clock()
        engines, self._engines = self._engines, None
        a.set_managed(
            self._nes,
            self._profiles,
            engines,
            owned=owned,
            poll_now=taken if self._applied_once else (),
        )
        a.managed.restore(history)
        a.managed.seed_seen_up(seen_up)  # before the first poll: no await since set_managed
        t3 = clock()
        self._owned = owned
        if table is not None:
            self.owners = table.owners
            self.applied = (table.epoch, table.version)
            self.stats["accepted"] += 1
            self._applied_once = True
        self.stats["taken"] += len(taken)
        self.stats["released"] += len(released)
        if taken or released:
            # The phases say where a slow takeover spends its time.
            log.info(
                "assignment v%d (epoch %d): %d NEs here (+%d -%d); alarm history %.2f s, "
                "snapshots %.2f s, apply %.2f s",
                self.applied[1],
                self.applied[0],
                len(owned),
                len(taken),
                len(released),
                t1 - t0,
                t2 - t1,
                t3 - t2,
            )
        if released and a.writer is not None:
            # Their last transitions must reach the event log for the agent taking them.
            await a.writer.flush(timeout=RELEASE_FLUSH)

    def _from_live_agent(self, taken: set[str]) -> bool:
        election = self.agent.election
        if election is None or self._loop is None or not taken:
            return False
        alive = set(election.alive_peers(self._loop.time()))
        return any(self.owners.get(ne) in alive for ne in taken)

    def status(self) -> dict[str, object]:
        return {
            "epoch": self.applied[0],
            "version": self.applied[1],
            "max_epoch": self.max_epoch,
            "cut_off": self._cut_off,
            "owned": len(self._owned),
            "held": self._doubt,
            **self.stats,
        }

"""The master's assigner loop: place every NE on one live agent, write the table fenced by
the lease, announce it.

Only while this agent is master (``on_became``). The placement itself is pure
(shared/assign.py: weighted rendezvous with capacity, pins and zones); this loop feeds it
the inventory (name, zone, pin of each managed NE) and the live members (the election's
alive peers and this agent, with the weight, capacity and zones of their agents rows), and
recomputes when either changes: the members are compared every ASSIGN_TICK, the inventory's
signature (count, last change) read every INVENTORY_TICK, so an NE added or removed at run
time is placed within about a second.

A table is written with ``PoolDb.write_assignment``, which checks the lease in the same
transaction: a master that lost its lease (paused, partitioned) writes nothing and
announces nothing. A written table is announced to every member as an AssignmentNotice and
handed to this agent's own follower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from agent.peers import Peers
from agent.pooldb import PoolDb
from shared.assign import Member, Placement, assign
from shared.election import Became, Role
from shared.errors import DatabaseError
from shared.poolwire import AssignmentNotice, to_args

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.electiond import ElectionShell

log = logging.getLogger(__name__)

NOTICE_OP = "pool.assignment"
ASSIGN_TICK = 0.2  # seconds between looks at the live members
INVENTORY_TICK = 1.0  # seconds between reads of the inventory's signature
STALL = 0.8  # seconds late a tick must be to count as a stall of this agent's loop


class Assigner:
    def __init__(self, agent: Agent, pool: PoolDb, shell: ElectionShell, peers: Peers) -> None:
        self.agent = agent
        self.pool = pool
        self.shell = shell
        self.peers = peers
        self.me = agent.node_id
        self.epoch: int | None = None  # ours while master
        self.stats = dict.fromkeys(
            (
                "computed",
                "written",
                "fenced",
                "announced",
                "errors",
                "held_after_stall",
                "held_no_quorum",
            ),
            0,
        )
        self._steady_from = 0.0  # after a stall of our loop: no member dropped before this
        self.unplaced: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._placements: list[Placement] | None = None
        self._signature: tuple[object, ...] | None = None
        self._written: tuple[int, dict[str, str]] | None = None  # (epoch, owners)
        # (epoch, members, inventory signature) the last table was made for.
        self._done: tuple[int, tuple[Member, ...], tuple[object, ...] | None] | None = None

    def on_became(self, b: Became) -> None:
        if b.role is Role.MASTER:
            self.epoch = b.epoch
            self._placements = None  # read the inventory afresh as a new master
            self.wake()
        else:
            self.epoch = None

    def wake(self) -> None:
        """Recompute now (an inventory reload was asked for)."""
        self._signature = None
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_inventory = 0.0
        while True:
            self._wake.clear()
            waited = loop.time()
            ticking = self.epoch is not None
            with contextlib.suppress(TimeoutError):
                # A follower sleeps until it becomes master (on_became wakes it).
                async with asyncio.timeout(ASSIGN_TICK if ticking else None):
                    await self._wake.wait()
            # Only a master's tick can be late: a follower's sleep ends when it becomes
            # master, however long it was (taken for a stall, it held the first table of a
            # failover back by dead_after).
            if ticking and self.epoch is not None and loop.time() - waited > ASSIGN_TICK + STALL:
                # Our loop stood still: the peers' heartbeats waited unread meanwhile, so
                # "unheard" means nothing yet. Drop no member until we have listened again.
                self._steady_from = loop.time() + self.agent.config.pool.dead_after
            if self.epoch is None:
                continue
            try:
                if self._signature is None or loop.time() >= next_inventory:
                    next_inventory = loop.time() + INVENTORY_TICK
                    await self._read_inventory()
                await self._assign_once()
            except DatabaseError as e:
                # No write without the database; the lease (also by database) decides
                # whether we stay master meanwhile.
                self.stats["errors"] += 1
                log.warning("assignment not written: %s", e)

    async def _read_inventory(self) -> None:
        signature = await asyncio.to_thread(self.pool.inventory_fingerprint)
        if signature != self._signature or self._placements is None:
            self._placements = await asyncio.to_thread(self.pool.placements)
            self._signature = signature

    def live_members(self) -> list[Member]:
        """This agent and the peers the election hears, as the assigner weighs them."""
        cfg = self.agent.config.pool
        out = [Member(self.me, cfg.weight, cfg.capacity, frozenset(cfg.zones))]
        rows = self.shell.members
        for node in self.shell.election.alive_peers(self.shell.now()):
            row = rows.get(node)
            if row is None:
                out.append(Member(node))
            else:
                out.append(Member(node, row.weight, row.capacity, row.zones))
        return out

    async def _assign_once(self) -> None:
        epoch, placements = self.epoch, self._placements
        if epoch is None or placements is None:
            return
        members = tuple(self.live_members())
        key = (epoch, members, self._signature)
        if key == self._done:
            return  # nothing changed since the last table written
        if self._done is not None and not self.shell.has_quorum():
            self.stats["held_no_quorum"] += 1
            return  # cut off from most of the pool: do not take their NEs (we step down)
        if self._done is not None and self.shell.now() < self._steady_from:
            gone = {m.node_id for m in self._done[1]} - {m.node_id for m in members}
            if gone:
                self.stats["held_after_stall"] += 1
                return
        started = self.shell.now()
        result = assign(placements, members)
        self.stats["computed"] += 1
        if result.unplaced != self.unplaced:
            self.unplaced = dict(result.unplaced)
            if result.unplaced:
                why = sorted(set(result.unplaced.values()))
                log.warning("%d NEs have no owner: %s", len(result.unplaced), "; ".join(why))
        if self._written == (epoch, result.owners):
            self._done = key
            return
        version = await asyncio.to_thread(self.pool.write_assignment, self.me, epoch, result.owners)
        if version is None:
            self.stats["fenced"] += 1
            log.warning("assignment not written: the lease of epoch %d is no longer ours", epoch)
            self.epoch = None  # the election steps down by its own lease check
            return
        if self.epoch != epoch:
            return  # stepped down while writing: the table is fenced, say nothing more
        self._written = (epoch, result.owners)
        self._done = key
        self.stats["written"] += 1
        moved = len(self.agent.follower.moved(result.owners)) if self.agent.follower else 0
        log.info(
            "assignment v%d (epoch %d): %d NEs on %d agents, %d moved (%.2f s to compute "
            "and write)",
            version,
            epoch,
            len(result.owners),
            len(members),
            moved,
            self.shell.now() - started,
        )
        notice = AssignmentNotice(self.me, epoch, version, result.owners)
        self.stats["announced"] += self.peers.broadcast(NOTICE_OP, to_args(notice))
        if self.agent.follower is not None:
            self.agent.follower.offer(notice, source="own")

    def status(self) -> dict[str, object]:
        return {
            "assigning": self.epoch is not None,
            "unplaced": len(self.unplaced),
            **self.stats,
        }

"""The election's I/O shell: drives the pure state machine (shared/election.py) with the
loop's clock, the bus and the database.

- Timers: each ``Timer`` action becomes a ``loop.call_at`` (a new one of the same name
  replaces the old); the loop's clock is monotonic, as the machine expects.
- Messages: ``Send``/``Broadcast`` go out as one-way ``pool.election`` notifications over
  the persistent peer links (agent/peers.py); incoming ones arrive on the bus route of the
  same name (agent role), are validated (shared/poolwire.py) and fed in.
- The lease: ``AcquireLease``/``ReleaseLease`` run one at a time, in order, in a worker
  thread against the database (agent/pooldb.py); their answers are fed back. While master,
  the renewals come from a thread of their own (agent/renewer.py), not from ``RenewLease``
  actions, so a busy loop does not make the master step down.
- Membership: about every second this agent's ``agents`` row is written (state, epoch, NEs
  managed, poll and trap health, version, endpoints, zones, weight, capacity) and every
  row is read back: the members' ranks go to the machine, their endpoints (plus the
  configured seeds) to the peer links. The rows with a fresh heartbeat (``row_fresh``) of
  agents not stopped are the voters of the election's quorum (shared/election.py): a
  partitioned agent still writes its row, a dead one's goes stale.

The lease and the agents row have a database engine and threads of their own (``open``):
a renewal must never queue behind the agent's bulk database work (event-log batches,
inventory reads, alarm history), or a busy master would step down for nothing.

A lone agent hears nobody during its start-up listen (``dead_after``), claims the lease and
is master on its own within about two seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

from agent.peers import Peers
from agent.pooldb import MemberRow, PoolDb
from agent.renewer import Renewer
from shared.election import (
    AcquireLease,
    Action,
    Became,
    Broadcast,
    Election,
    ElectionConfig,
    Rank,
    ReleaseLease,
    Relink,
    RenewLease,
    Role,
    Send,
    Timer,
)
from shared.errors import DatabaseError
from shared.nefeed import MemberWatch
from shared.poolwire import ElectionMsg, PoolWireError, from_args, to_args
from shared.wire import KeyRole, Topic

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.bus import Bus

log = logging.getLogger(__name__)
T = TypeVar("T")

OP = "pool.election"
MASTER_EVENT = "pool master"  # starts the text of the master-change events it logs
MEMBER_HORIZON = 3600.0  # rows unheard for longer are not linked to (emspool pool forget)
RELEASE_TIMEOUT = 2.0  # seconds the lease release and the last row write may take at stop
_LEASE_QUEUE = 16
STALL = 0.5  # seconds late a timer must fire for the loop to count as having stood still


def row_fresh(member_every: float, dead_after: float) -> float:
    """How recent a row's heartbeat must be for its agent to count as live (a voter): a
    few missed writes, so a slow database round does not make a live agent look dead."""
    return max(3 * member_every, 2 * dead_after)


def _version() -> str:
    try:
        return metadata.version("emspool")
    except metadata.PackageNotFoundError:
        return "unknown"


def state_of(role: Role) -> str:
    """The agents row's state: master / follower / starting (an election in progress)."""
    if role is Role.MASTER:
        return "master"
    if role is Role.FOLLOWER:
        return "follower"
    return "starting"


@dataclass(frozen=True, slots=True)
class _LeaseOp:
    action: AcquireLease | ReleaseLease


class ElectionShell:
    def __init__(
        self, agent: Agent, pool: PoolDb, peers: Peers, on_became: Callable[[Became], None]
    ) -> None:
        self.agent = agent
        self.pool = pool
        self.peers = peers
        self.on_became = on_became
        cfg = agent.config.pool
        self.config = cfg
        self.me = agent.node_id
        self.election = Election(
            Rank(agent.config.priority, agent.node_id),
            ElectionConfig(
                heartbeat=cfg.heartbeat,
                dead_after=cfg.dead_after,
                answer_timeout=cfg.answer_timeout,
                coordinator_timeout=cfg.coordinator_timeout,
                lease_renew=cfg.lease_renew,
                lease_hold=cfg.lease_hold,
                preempt_delay=cfg.preempt_delay,
            ),
        )
        self.members: dict[str, MemberRow] = {}  # the agents table as last read
        self.stats = dict.fromkeys(
            ("sent", "received", "bad_messages", "lease_errors", "member_errors"), 0
        )
        self.version = _version()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._lease_q: asyncio.Queue[_LeaseOp] = asyncio.Queue(_LEASE_QUEUE)
        self._refresh = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._member_failing = False
        self._heard_ranks: dict[str, int] = {}  # node -> priority, from its own messages
        self._relinks: set[asyncio.Future[bool]] = set()  # links being reopened
        self._lease_thread = ThreadPoolExecutor(1, thread_name_prefix="pool-lease")
        self.renewer: Renewer | None = None
        self._members_thread = ThreadPoolExecutor(1, thread_name_prefix="pool-members")
        self._was_master = 0  # the epoch we are master at, 0 if we are not
        self.member_watch = MemberWatch()

    def route(self, bus: Bus) -> None:
        bus.route(OP, self.on_message, role=KeyRole.AGENT)

    # -- running ---------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        self.renewer = Renewer(
            self.pool, self.me, cfg.lease_ttl, cfg.lease_renew, self._loop, self._renewed
        )
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._lease_worker(), name="lease")
            # Our row first, so the others can answer us when we speak.
            await self._members_once()
            self._started = True
            self._apply(self.election.start(self.now()))
            while True:
                self._refresh.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.member_every):
                        await self._refresh.wait()
                await self._members_once()

    async def aclose(self) -> None:
        """Stop: cancel the timers, give the lease back if we hold it, mark the row."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self.renewer is not None:
            self.renewer.close()
        e = self.election
        was_master = e.is_master
        try:
            with contextlib.suppress(DatabaseError, TimeoutError):
                async with asyncio.timeout(RELEASE_TIMEOUT):
                    if was_master:
                        await self._call(self.pool.release_lease, self.me, e.epoch)
                    row = self._row("stopped")
                    await self._call(functools.partial(self.pool.heartbeat, self.me, **row))
        finally:
            self._lease_thread.shutdown(wait=False)
            self._members_thread.shutdown(wait=False)

    async def _call(self, fn: Callable[..., T], *args: Any, members: bool = False) -> T:
        """Run a database call on the shell's own threads: one for the lease, one for
        the agents rows, so a slow membership read never delays a renewal either."""
        loop = asyncio.get_running_loop()
        pool = self._members_thread if members else self._lease_thread
        return await loop.run_in_executor(pool, functools.partial(fn, *args))

    def now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    # -- messages in -----------------------------------------------------------------------
    async def on_message(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            msg: ElectionMsg = from_args(args, ElectionMsg)
        except PoolWireError:
            self.stats["bad_messages"] += 1
            raise
        self.stats["received"] += 1
        self._heard_ranks[msg.sender] = msg.priority
        if not self._started:
            return {}
        if msg.sender != self.me and msg.sender not in self.peers.nodes:
            self._refresh.set()  # a new member: read the table to get a link back to it
        self._apply(self.election.on_message(msg.to_message(), self.now()))
        return {}

    # -- actions out -----------------------------------------------------------------------
    def _apply(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Send):
                self.stats["sent"] += 1
                self.peers.notify(a.to, OP, to_args(ElectionMsg.of(a.message)))
            elif isinstance(a, Broadcast):
                self.stats["sent"] += 1
                self.peers.broadcast(OP, to_args(ElectionMsg.of(a.message)))
            elif isinstance(a, Timer):
                self._set_timer(a)
            elif isinstance(a, RenewLease):
                pass  # the renewer thread renews while we are master
            elif isinstance(a, AcquireLease | ReleaseLease):
                self._queue_lease(a)
            elif isinstance(a, Relink):
                log.warning(
                    "%s has not heard this master for %.1f s although its messages reach "
                    "us: reopening the link to it",
                    a.node,
                    self.election.config.unaware_limit,
                )
                task = asyncio.ensure_future(self.peers.relink(a.node))
                self._relinks.add(task)
                task.add_done_callback(self._relinks.discard)
            elif isinstance(a, Became):
                self._record(a)
                self._was_master = a.epoch if a.role is Role.MASTER else 0
                if self.renewer is not None:
                    if a.role is Role.MASTER:
                        self.renewer.start(a.epoch)
                    else:
                        self.renewer.stop()
                self.on_became(a)

    def _record(self, b: Became) -> None:
        """Master changes go to the event log (type "agent", MASTER_EVENT in the text):
        the pool's failover history stays when every agent has restarted since."""
        if b.role is Role.MASTER and not self._was_master:
            text = f"{MASTER_EVENT}: became master, epoch {b.epoch}"
        elif b.role is not Role.MASTER and self._was_master:
            why = self.election.stepped_down_why or "stepped down"
            log.warning("no longer master (epoch %d): %s", self._was_master, why)
            text = f"{MASTER_EVENT}: no longer master, epoch {self._was_master}: {why}"
        else:
            return
        self.agent.emit([self.agent.agent_event(text)])

    def _set_timer(self, t: Timer) -> None:
        assert self._loop is not None
        old = self._timers.pop(t.name, None)
        if old is not None:
            old.cancel()
        self._timers[t.name] = self._loop.call_at(t.at, self._fire, t.name)

    def _fire(self, name: str) -> None:
        if self.renewer is not None:
            self.renewer.alive = time.monotonic()  # the loop still runs: keep renewing
        handle = self._timers.pop(name, None)
        now = self.now()
        if handle is not None and now - handle.when() > STALL:
            # Our loop ran late: the peers' heartbeats are still unread in the socket.
            self.election.on_stall(now - handle.when(), now)
        self._apply(self.election.on_timer(name, now))
        self._tell_members(now)

    def _tell_members(self, now: float) -> None:
        """The master publishes the live members when they change (shared/nefeed.py
        MemberWatch says why only the master). Checked at every timer, heartbeats
        included: a peer is declared dead by time passing, not by a message."""
        e = self.election
        if not e.is_master:
            self.member_watch.reset()
            return
        body = self.member_watch.update(self.me, e.epoch, [self.me, *e.alive_peers(now)])
        if body is not None:
            if body["joined"] or body["left"]:
                joined, left = ", ".join(body["joined"]), ", ".join(body["left"])
                log.info("pool members: joined [%s], left [%s]", joined, left)
            self.agent.publish(Topic.AGENT, body)

    # -- the lease -------------------------------------------------------------------------
    def _renewed(self, epoch: int, sent_at: float, result: bool | None) -> None:
        """The renewer's answer, on the loop."""
        e = self.election
        if not e.is_master or e.epoch != epoch:
            return
        now = self.now()
        if result is None:
            self.stats["lease_errors"] += 1
            out = e.on_lease_error(now)
        elif result:
            out = e.on_lease_renewed(sent_at, now)
        else:
            out = e.on_lease_lost(now)
        self._apply(out)

    def has_quorum(self) -> bool:
        """Do we hear a majority of the agents that run (the election's quorum rule:
        shared/election.py)? The assigner holds without it."""
        return self.election.has_quorum(self.now())

    def _queue_lease(self, action: AcquireLease | ReleaseLease) -> None:
        try:
            self._lease_q.put_nowait(_LeaseOp(action))
        except asyncio.QueueFull:
            # The database is stuck: renewals pile up. Dropping one is safe (the master
            # steps down by its own clock when renewals do not come back).
            self.stats["lease_errors"] += 1

    async def _lease_worker(self) -> None:
        e, pool, me, ttl = self.election, self.pool, self.me, self.config.lease_ttl
        while True:
            op = (await self._lease_q.get()).action
            try:
                if isinstance(op, AcquireLease):
                    ans = await self._call(pool.acquire_lease, me, ttl)
                    now = self.now()
                    if ans.acquired:
                        out = e.on_lease_acquired(ans.epoch, op.sent_at, now)
                    else:
                        out = e.on_lease_denied(ans.holder, ans.epoch, ans.expires_in, now)
                else:
                    await self._call(pool.release_lease, me, op.epoch)
                    out = []
            except DatabaseError as err:
                self.stats["lease_errors"] += 1
                log.warning("master lease: %s", err)
                out = e.on_lease_error(self.now())
            self._apply(out)

    # -- membership ------------------------------------------------------------------------
    def _row(self, state: str) -> dict[str, object]:
        a, cfg = self.agent, self.config
        bus = a.bus
        return {
            "priority": a.config.priority,
            "endpoint": bus.router_endpoint if bus else a.config.router_endpoint,
            "pub_endpoint": bus.pub_endpoint if bus else a.config.pub_endpoint,
            "public_key": bus.public_key if bus else "",  # clients and peers expect it
            "zones": ",".join(cfg.zones),
            "weight": cfg.weight,
            "capacity": cfg.capacity,
            "version": self.version,
            "state": state,
            "epoch": self.election.epoch,
            "managed": len(a.model.states),
            "health": json.dumps(self.health(), separators=(",", ":")),
        }

    def health(self) -> dict[str, int]:
        """Poll and trap counters for the agents row (``emspool pool``)."""
        a = self.agent
        out: dict[str, int] = {}
        for proto, poller in (("snmp", a.poller), ("netconf", a.nc_poller)):
            if poller is not None:
                out[f"{proto}_polls"] = poller.stats.get("polls", 0)
                out[f"{proto}_failures"] = poller.stats.get("failures", 0)
        if a.receiver is not None:
            c = a.receiver.counters
            out["traps_accepted"] = c.get("accepted", 0)
            out["traps_unknown"] = c.get("unknown_source", 0)
        if a.forwarder is not None:
            out["traps_forwarded"] = a.forwarder.stats["forwarded"]
            out["traps_received_forwarded"] = a.forwarder.stats["received_forwarded"]
        out["unreachable"] = sum(1 for st in a.model.states.values() if not st.reachable)
        return out

    async def _members_once(self) -> None:
        state = state_of(self.election.role) if self._started else "starting"
        try:
            row = self._row(state)
            await self._call(functools.partial(self.pool.heartbeat, self.me, **row), members=True)
            rows = await self._call(self.pool.members, members=True)
        except DatabaseError as err:
            self.stats["member_errors"] += 1
            if not self._member_failing:
                log.warning("pool membership not readable, keeping the last: %s", err)
            self._member_failing = True
            return
        if self._member_failing:
            log.info("pool membership readable again")
        self._member_failing = False
        self.members = {r.node_id: r for r in rows}
        live = {r.node_id: r for r in rows if r.age < MEMBER_HORIZON}
        endpoints = {n: r.endpoint for n, r in live.items() if n != self.me}
        known = set(endpoints.values())
        mine = self.agent.bus.router_endpoint if self.agent.bus else ""
        for seed in self.agent.config.pool.seeds:
            if seed not in known and seed != mine:
                endpoints[f"seed:{seed}"] = seed
        # Each link is CURVE to the key the peer's row advertises (seeds have none: a
        # secured pool finds its members through the database).
        await self.peers.update(endpoints, {n: r.public_key for n, r in live.items()})
        fresh = row_fresh(self.config.member_every, self.config.dead_after)
        voters = {n for n, r in live.items() if r.age < fresh and r.state != "stopped"}
        self.election.set_members(
            {n: r.priority for n, r in live.items()} | self._heard(), self.now(), voters
        )

    def _heard(self) -> dict[str, int]:
        """Live peers the table does not list (reached through a seed): kept as members."""
        alive = self.election.alive_peers(self.now())
        return {n: p for n, p in self._heard_ranks.items() if n in alive}

    def status(self) -> dict[str, object]:
        e = self.election
        return {
            "role": e.role.value,
            "master": e.master,
            "epoch": e.epoch,
            "alive": e.alive_peers(self.now()) if self._loop else [],
            "quorum": e.has_quorum(self.now()) if self._loop else False,
            "election": dict(e.stats),
            "shell": dict(self.stats),
            "peers": dict(self.peers.stats),
            "renewer": dict(self.renewer.stats) if self.renewer else {},
        }

"""The agent's lifetime: open every component in order, run them under one TaskGroup until
cancelled (SIGTERM), then close them newest first and flush the event log.

One job, start-up and shutdown. Each component's closer is registered the moment it is
opened, so a failure at any step of start-up (trap port taken, database down, a bus port
in use) or a cancel closes exactly what was opened; the event log is flushed after every
event source has stopped, then the outbox and the database are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.assigner import Assigner
from agent.bus import Bus
from agent.bussetup import advertise, load_security, make_bus
from agent.db import Database
from agent.dbengine import prepare
from agent.electiond import ElectionShell
from agent.follower import Follower
from agent.handlers import Handlers
from agent.netconf import NetconfClient
from agent.netconf.poller import NetconfPoller
from agent.outbox import Outbox, OutboxWriter
from agent.peers import Peers
from agent.poller import Poller
from agent.pooldb import PoolDb
from agent.poolservice import PoolService
from agent.secretbox import box_for
from agent.snmp import SnmpClient
from agent.trapforward import TrapForwarder
from agent.traps import TrapReceiver
from agent.trapv3 import local_engine
from shared.errors import DatabaseError, EmspoolError
from shared.schema import Link

if TYPE_CHECKING:
    from agent.app import Agent

log = logging.getLogger(__name__)

LINK_SYNC = 10.0  # seconds between writes of changed LLDP neighbours to the links table
LEASE_BUSY_TIMEOUT = 1.0  # seconds a lease or agents-row statement waits for the database
FLUSH_TIMEOUT = 10.0  # seconds the start-up and the final event-log flush may take
FLUSH_GRACE = 1.0  # what is left of the final flush after a second stop signal
# SQLite's FTS index takes new events in rounds (agent/textsearch.py): at most this many rows
# per round, one round per interval — ~0.3 s of CPU per full round, so catching up after a
# burst costs at most ~60 % of a core and never stalls the outbox.
TEXT_INDEX_ROWS = 5000
TEXT_INDEX_EVERY = 0.5


class Runtime:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._links_written: dict[str, tuple[tuple[str, str, str], ...]] = {}

    async def run(self) -> None:
        """Start every component, run until cancelled, then stop them."""
        a = self.agent
        try:
            async with contextlib.AsyncExitStack() as stack:
                writer, bus = await self._start(stack)
                assert a.follower is not None and a.election_shell is not None
                assert a.assigner is not None
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(writer.run(), name="outbox")
                    tg.create_task(bus.serve(), name="bus")
                    tg.create_task(a.follower.run(), name="follower")
                    tg.create_task(a.election_shell.run(), name="election")
                    tg.create_task(a.assigner.run(), name="assigner")
                    assert a.pool_service is not None
                    tg.create_task(a.pool_service.run(), name="pool-service")
                    tg.create_task(self._tick(), name="tick")
                    tg.create_task(self._sync_links(), name="links")
                    tg.create_task(self._index_text(), name="text-index")
                    if a.bus_security is not None and not a.bus_security.insecure:
                        tg.create_task(a.bus_security.keep_allow_list(a.node_id), name="keys")
                    a.ready.set()
        finally:
            log.info("agent stopped")

    async def _start(self, stack: contextlib.AsyncExitStack) -> tuple[OutboxWriter, Bus]:
        a = self.agent
        cfg = a.config
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        url = cfg.effective_database_url
        await asyncio.to_thread(prepare, url)
        box = box_for(cfg.secrets.key_file)
        if box is None:
            log.warning(
                "no pool secrets key (secrets.key_file): credentials profiles are stored "
                "in the database in plain text"
            )
        a.db = db = await asyncio.to_thread(lambda: Database.open(url, secrets=box))
        stack.callback(db.close)
        a.pool = pool = PoolDb(db)
        outbox = Outbox(str(Path(cfg.data_dir) / "outbox.sqlite"))
        stack.callback(outbox.close)
        a.writer = writer = OutboxWriter(outbox, db)
        stack.push_async_callback(self._final_flush)
        a.bus_security = security = await asyncio.to_thread(load_security, cfg, db)
        a.bus = bus = make_bus(cfg, security)
        stack.push_async_callback(bus.aclose)
        a.peers = peers = Peers(bus.ctx, a.node_id, security.keypair)
        stack.push_async_callback(peers.aclose)  # closed before the bus ends the context
        a.follower = Follower(a, pool)
        # The lease on a database engine of its own, with a short busy timeout: a renewal
        # that cannot get the database quickly fails and the next one tries (0.3 s later)
        # rather than wait behind the event log while the lease runs out.
        lease_db = await asyncio.to_thread(
            Database.open, url, busy_timeout=LEASE_BUSY_TIMEOUT, connect_timeout=2.0
        )
        stack.callback(lease_db.close)
        a.election_shell = shell = ElectionShell(a, PoolDb(lease_db), peers, a.on_became)
        a.election = shell.election
        a.assigner = Assigner(a, pool, shell, peers)
        a.forwarder = TrapForwarder(a, peers)
        Handlers(a).route(bus)
        a.pool_service = PoolService(a)
        stack.push_async_callback(a.pool_service.aclose)  # its SUB sockets before the bus
        for pool_part in (shell, a.follower, a.forwarder, a.pool_service):
            pool_part.route(bus)
        bus.bind()  # ZAP first, then the sockets listen
        await asyncio.to_thread(advertise, cfg, db, bus, security)
        client = SnmpClient(max_repetitions=cfg.polling.max_repetitions)
        stack.callback(client.close)
        a.poller = Poller(client, a.model, a.emit, cfg.polling)
        a.poller.gate = a.follower.may_poll
        stack.push_async_callback(a.poller.close)
        nc_client = NetconfClient(workers=cfg.netconf.workers)
        stack.push_async_callback(nc_client.aclose)
        a.nc_poller = NetconfPoller(nc_client, a.model, a.emit, cfg.polling)
        a.nc_poller.gate = a.follower.may_poll
        stack.push_async_callback(a.nc_poller.close)
        if cfg.traps.enabled:
            receiver = TrapReceiver(
                a.on_notification,
                cfg.traps.host,
                cfg.traps.port,
                max_datagram=cfg.traps.max_datagram,
                engine=local_engine(cfg.data_dir),
                on_engine_learned=a.trap_sources.engine_learned,
            )
            stack.push_async_callback(receiver.close)
            try:
                await receiver.start()
            except OSError as e:
                raise EmspoolError(
                    f"traps: cannot listen on {cfg.traps.host}:{cfg.traps.port}: "
                    f"{e.strerror or e} (another trap receiver running? change traps.port, "
                    "or set traps.enabled = false)"
                ) from None
            a.receiver = receiver
        # On the way out, once the tasks have ended: a master hands its lease back (the
        # pool need not wait for it to run out) and the agents row says "stopped".
        stack.push_async_callback(shell.aclose)
        stack.callback(log.info, "agent stopping")  # runs first on the way out
        log.info(
            "agent started: bus %s, events %s, traps %s, database %s",
            bus.router_endpoint,
            bus.pub_endpoint,
            a.receiver.address if a.receiver else "off",
            db.url,
        )
        a.emit([a.agent_event("agent started")])
        a.announced = True
        # Events a crash left in the outbox must reach the log before alarms are rebuilt
        # from it; if the database is down they simply wait there.
        await writer.flush(timeout=FLUSH_TIMEOUT)
        return writer, bus

    async def _final_flush(self) -> None:
        """After every event source has stopped: the last events go to the outbox file
        (always) and then, within FLUSH_TIMEOUT, to the database."""
        a = self.agent
        assert a.writer is not None
        if a.announced:
            a.writer.submit(a.agent_event("agent stopped"))
        if not await a.writer.flush(timeout=FLUSH_TIMEOUT):
            log.warning(
                "event log: %d events kept in the outbox for the next start", a.writer.pending
            )

    async def _sync_links(self) -> None:
        """Write each NE's LLDP view to the links table when it changes, so the topology
        can be drawn from the database by any agent."""
        a = self.agent
        assert a.db is not None
        db = a.db
        while True:
            await asyncio.sleep(LINK_SYNC)
            for name, st in list(a.model.states.items()):
                seen = tuple(
                    sorted((n.local_port, n.remote_name, n.remote_port) for n in st.neighbours)
                )
                if not seen or self._links_written.get(name) == seen:
                    continue
                found = [Link(name, lp, rn, rp, source="lldp") for lp, rn, rp in seen if rn]
                try:
                    await asyncio.to_thread(db.replace_links, found, source="lldp", ne=name)
                except DatabaseError as e:
                    log.warning("links not written, retrying later: %s", e, extra={"ne": name})
                    break
                self._links_written[name] = seen

    async def _index_text(self) -> None:
        """Bring newly written events into SQLite's FTS index (no-op on PostgreSQL)."""
        a = self.agent
        assert a.db is not None
        db = a.db
        if db.dialect != "sqlite":
            return
        while True:
            await asyncio.sleep(TEXT_INDEX_EVERY)
            try:
                await asyncio.to_thread(db.index_event_text, TEXT_INDEX_ROWS)
            except DatabaseError as e:  # busy or down: the rows wait for the next round
                log.debug("event text not indexed this round: %s", e)

    async def _tick(self) -> None:
        a = self.agent
        while True:
            await asyncio.sleep(1.0)
            events = a.model.tick(time.time())
            if events:
                a.emit(events)

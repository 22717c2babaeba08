"""One management server: wires the components together under one TaskGroup.

Which NEs this agent manages is an input (``set_managed``, the seam where an assignment
follower will plug in); until the pool issue brings assignment, the inventory watcher
hands it every NE in the DB. Bus requests are answered in agent/handlers.py, trap
sources and SNMPv3 engine IDs are kept in agent/trapsources.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from agent.aiotools import with_deadline
from agent.bus import Bus
from agent.bussetup import BusSecurity, advertise, load_security, make_bus
from agent.db import Database, migrate
from agent.handlers import Handlers
from agent.netconf import NetconfClient, NetconfTarget
from agent.netconf.poller import NetconfPoller, NetconfPollTarget
from agent.outbox import Outbox, OutboxWriter
from agent.poller import Poller, PollTarget
from agent.snmp import SnmpClient
from agent.traps import Notification, TrapReceiver, TrapSource
from agent.trapsources import TrapSources
from agent.trapv3 import local_engine
from shared.alarms import Change, rebuild
from shared.config import AgentConfig
from shared.errors import DatabaseError, EmspoolError
from shared.model import CredentialProfile, Event, NetworkElement, Protocol, Severity
from shared.nodal import NodalModel, Policy
from shared.schema import Link
from shared.wire import Topic

log = logging.getLogger(__name__)

INVENTORY_REFRESH = 5.0  # seconds between inventory reads (cheap: two small SELECTs)
REBUILD_WINDOW = 30 * 86400.0  # how far back the event log is read to rebuild alarms
ALARM_EVENT_TYPES = [c.value for c in Change]
HISTORY_MAX = 1_000_000  # events read at most when rebuilding (bounded start-up cost)
LINK_SYNC = 10.0  # seconds between writes of changed LLDP neighbours to the links table
FLUSH_TIMEOUT = 10.0  # seconds the start-up and the final event-log flush may take
FLUSH_GRACE = 1.0  # what is left of the final flush after a second stop signal


def _why_unmanaged(ne: NetworkElement | None) -> str:
    """The reason recorded when an NE's alarms are closed because it left management."""
    if ne is None:
        return "closed: NE removed from the inventory"
    if not ne.managed:
        return "closed: NE unmanaged"
    return "closed: NE no longer polled (credentials profile missing or unusable)"


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.node_id = config.node_id
        self.model = NodalModel(
            config.node_id,
            Policy(
                unreachable_after=config.alarms.unreachable_after,
                restart_hold=config.alarms.restart_hold,
                alarm_never_up_ports=config.alarms.never_up_ports,
            ),
        )
        self.started = time.time()
        self.db: Database | None = None
        self.writer: OutboxWriter | None = None
        self.bus: Bus | None = None
        self.bus_security: BusSecurity | None = None
        self.poller: Poller | None = None
        self.nc_poller: NetconfPoller | None = None
        self.receiver: TrapReceiver | None = None
        self.ready = asyncio.Event()
        self._inventory_changed = asyncio.Event()
        self._links_written: dict[str, tuple[tuple[str, str, str], ...]] = {}
        self.trap_sources = TrapSources(
            self.node_id, self.model, self.emit, on_learned=self._inventory_changed.set
        )
        self._announced = False  # "agent started" emitted: "agent stopped" will follow
        self._hurried = False

    # -- lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        """Start every component, run until cancelled (SIGTERM), then stop them.

        Each component's closer is registered the moment it is opened, so a failure at any
        step of start-up (trap port taken, database down, a bus port in use) or a cancel
        closes exactly what was opened, newest first; the event log is flushed after every
        event source has stopped, then the outbox and the database are closed.
        """
        try:
            async with contextlib.AsyncExitStack() as stack:
                writer, bus = await self._start(stack)
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(writer.run(), name="outbox")
                    tg.create_task(bus.serve(), name="bus")
                    tg.create_task(self._watch_inventory(), name="inventory")
                    tg.create_task(self._tick(), name="tick")
                    tg.create_task(self._sync_links(), name="links")
                    if self.bus_security is not None and not self.bus_security.insecure:
                        tg.create_task(self.bus_security.keep_allow_list(self.node_id))
                    self.ready.set()
        finally:
            log.info("agent stopped")

    async def _start(self, stack: contextlib.AsyncExitStack) -> tuple[OutboxWriter, Bus]:
        cfg = self.config
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        url = cfg.effective_database_url
        await asyncio.to_thread(migrate, url)
        self.db = db = await asyncio.to_thread(Database.open, url)
        stack.callback(db.close)
        outbox = Outbox(str(Path(cfg.data_dir) / "outbox.sqlite"))
        stack.callback(outbox.close)
        self.writer = writer = OutboxWriter(outbox, db)
        stack.push_async_callback(self._final_flush)
        self.bus_security = security = await asyncio.to_thread(load_security, cfg, db)
        self.bus = bus = make_bus(cfg, security)
        stack.push_async_callback(bus.aclose)
        Handlers(self).route(bus)
        bus.bind()  # ZAP first, then the sockets listen
        await asyncio.to_thread(advertise, cfg, db, bus, security)
        client = SnmpClient(max_repetitions=cfg.polling.max_repetitions)
        stack.callback(client.close)
        self.poller = Poller(client, self.model, self.emit, cfg.polling)
        stack.push_async_callback(self.poller.close)
        nc_client = NetconfClient(workers=cfg.netconf.workers)
        stack.push_async_callback(nc_client.aclose)
        self.nc_poller = NetconfPoller(nc_client, self.model, self.emit, cfg.polling)
        stack.push_async_callback(self.nc_poller.close)
        if cfg.traps.enabled:
            receiver = TrapReceiver(
                self.on_notification,
                cfg.traps.host,
                cfg.traps.port,
                max_datagram=cfg.traps.max_datagram,
                engine=local_engine(cfg.data_dir),
                on_engine_learned=self.trap_sources.engine_learned,
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
            self.receiver = receiver
        stack.callback(log.info, "agent stopping")  # runs first on the way out
        log.info(
            "agent started: bus %s, events %s, traps %s, database %s",
            bus.router_endpoint,
            bus.pub_endpoint,
            self.receiver.address if self.receiver else "off",
            db.url,
        )
        self.emit([self._agent_event("agent started")])
        self._announced = True
        # Events a crash left in the outbox must reach the log before alarms are rebuilt
        # from it; if the database is down they simply wait there.
        await writer.flush(timeout=FLUSH_TIMEOUT)
        return writer, bus

    async def _final_flush(self) -> None:
        """After every event source has stopped: the last events go to the outbox file
        (always) and then, within FLUSH_TIMEOUT, to the database."""
        assert self.writer is not None
        if self._announced:
            self.writer.submit(self._agent_event("agent stopped"))
        if not await self.writer.flush(timeout=FLUSH_TIMEOUT):
            log.warning(
                "event log: %d events kept in the outbox for the next start", self.writer.pending
            )

    def hurry(self) -> None:
        """Another stop signal while stopping. The shutdown is never abandoned half way
        (that is what loses events), but the first extra signal cuts the final database
        flush to FLUSH_GRACE seconds: what is not written by then stays in the outbox file
        and goes first at the next start. Later signals are logged and ignored."""
        if self._hurried:
            log.warning("already stopping; signal ignored")
            return
        self._hurried = True
        log.warning(
            "already stopping; the event-log flush now ends within %g s "
            "(events not written stay in the outbox for the next start)",
            FLUSH_GRACE,
        )
        if self.writer is not None:
            self.writer.hurry(FLUSH_GRACE)

    # -- the managed set ----------------------------------------------------------------
    def set_managed(
        self,
        nes: list[NetworkElement],
        profiles: dict[str, CredentialProfile],
        learned_engines: dict[str, str] | None = None,
    ) -> None:
        """``learned_engines``: NE -> v3 engine ID (hex) as the database has it; None keeps
        what this agent knows (an NE missing from it was reset: it learns afresh)."""
        assert self.poller is not None and self.nc_poller is not None
        if learned_engines is not None:
            self.trap_sources.load(learned_engines)
        targets: dict[str, PollTarget] = {}
        nc_targets: dict[str, NetconfPollTarget] = {}
        sources: dict[str, list[TrapSource]] = {}
        for ne in nes:
            if not ne.managed:
                continue
            profile = profiles.get(ne.profile)
            if profile is None:
                log.error("credentials profile %r missing", ne.profile, extra={"ne": ne.name})
                continue
            if Protocol.SNMP in ne.protocols:
                if profile.has_snmp:
                    targets[ne.name] = PollTarget(ne, profile)
                    sources.setdefault(ne.address, []).append(self.trap_sources.source(ne, profile))
                else:
                    log.error(
                        "profile %r has no SNMP credentials", profile.name, extra={"ne": ne.name}
                    )
            if Protocol.NETCONF in ne.protocols:
                if profile.has_ssh:
                    nc_targets[ne.name] = NetconfPollTarget(ne, self._netconf_target(ne, profile))
                else:
                    log.error(
                        "profile %r has no SSH credentials", profile.name, extra={"ne": ne.name}
                    )
        managed = set(targets) | set(nc_targets)
        before = self.poller.names | self.nc_poller.names
        now = time.time()
        inventory = {ne.name: ne for ne in nes}
        closed: list[Event] = []
        for name in before - managed:
            closed += self.model.remove_ne(name, now, _why_unmanaged(inventory.get(name)))
        for ne in nes:
            if ne.name in managed:
                self.model.add_ne(ne.name, ne)
                if ne.name in targets:
                    self.trap_sources.show(ne, targets[ne.name].profile)
        if closed:
            self.emit(closed)
        # Targets and v3 keys of changed or deleted profiles must not stay cached.
        self.poller.client.retain_profiles(profiles.values())
        self.poller.set_targets(targets)
        self.nc_poller.set_targets(nc_targets)
        if self.receiver is not None:
            self.receiver.set_sources(sources)
            self.trap_sources.tell_ambiguous(self.receiver.ambiguous)
        added, removed = managed - before, before - managed
        if added or removed:
            log.info("managing %d NEs (+%d -%d)", len(managed), len(added), len(removed))
            self.publish(Topic.AGENT, {"managed": sorted(managed)})

    def _netconf_target(self, ne: NetworkElement, profile: CredentialProfile) -> NetconfTarget:
        cfg = self.config
        return NetconfTarget(
            host=ne.address,
            port=ne.netconf_port,
            username=profile.user,
            password=profile.password,
            key_file=profile.key_file or None,
            host_key=ne.host_key or None,
            known_hosts=cfg.netconf.known_hosts or None,
            timeout=cfg.netconf.timeout,
        )

    def reload_inventory(self) -> None:
        """Read the inventory (and the bus allow-list) now instead of at the next refresh."""
        self._inventory_changed.set()
        if self.bus_security is not None:
            self.bus_security.wake.set()

    def reconfigure(self, new: AgentConfig) -> list[str]:
        """SIGHUP: take the new log level and local credentials profiles without dropping
        NEs, re-read the inventory; returns the other changed settings (they need a
        restart, and are left as they were)."""
        keep = dataclasses.replace(
            new, log_level=self.config.log_level, profiles=self.config.profiles
        )
        ignored = [
            f.name
            for f in dataclasses.fields(AgentConfig)
            if getattr(keep, f.name) != getattr(self.config, f.name)
        ]
        self.config = dataclasses.replace(
            self.config, log_level=new.log_level, profiles=new.profiles
        )
        logging.getLogger().setLevel(new.log_level)
        self.reload_inventory()
        return ignored

    async def _watch_inventory(self) -> None:
        assert self.db is not None
        db = self.db
        failing = False
        while True:
            await self.trap_sources.save(db)
            try:
                nes, profiles, engines = await asyncio.to_thread(
                    lambda: (db.list_nes(), db.get_profiles(), db.learned_engines())
                )
            except DatabaseError as e:
                if not failing:
                    log.warning("inventory not readable, keeping the current set: %s", e)
                failing = True
            else:
                if failing:
                    log.info("inventory readable again")
                failing = False
                # Profiles in the agent's own config win: local secrets stay local.
                profiles.update({p.name: p for p in self.config.profiles})
                new = [ne.name for ne in nes if ne.name not in self.model.states]
                history = await self._alarm_history(new) if new else []
                self.set_managed(nes, profiles, engines)
                self._restore(history)
            self._inventory_changed.clear()
            with contextlib.suppress(TimeoutError):
                await with_deadline(self._inventory_changed.wait(), INVENTORY_REFRESH)

    async def _alarm_history(self, names: list[str]) -> list[Event]:
        assert self.db is not None
        db = self.db
        since = time.time() - REBUILD_WINDOW

        def fetch() -> list[Event]:
            out: list[Event] = []
            before: tuple[float, str] | None = None
            while len(out) < HISTORY_MAX:
                page = db.query_events(
                    ne=names, since=since, types=ALARM_EVENT_TYPES, limit=10_000, before=before
                )
                out += page
                if len(page) < 10_000:
                    break
                before = (page[-1].time, page[-1].id)
            return out

        try:
            return await asyncio.to_thread(fetch)
        except DatabaseError as e:
            log.warning("alarm history not readable, starting those NEs empty: %s", e)
            return []

    def _restore(self, history: list[Event]) -> None:
        """Standing alarms of newly managed NEs, with their raise time and ack, from the
        event log; the first polls then clear whatever went away meanwhile."""
        alarms = [
            a
            for a in rebuild(history, self.config.alarms.restart_hold)
            if a.key.ne in self.model.states and self.model.alarms.get(a.key) is None
        ]
        if alarms:
            self.model.restore(alarms)
            log.info("restored %d standing alarms from the event log", len(alarms))

    async def _sync_links(self) -> None:
        """Write each NE's LLDP view to the links table when it changes, so the topology
        can be drawn from the database by any agent."""
        assert self.db is not None
        db = self.db
        while True:
            await asyncio.sleep(LINK_SYNC)
            for name, st in list(self.model.states.items()):
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

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            events = self.model.tick(time.time())
            if events:
                self.emit(events)

    # -- inputs -> events -------------------------------------------------------------
    def emit(self, events: list[Event]) -> None:
        for e in events:
            if self.writer is not None:
                self.writer.submit(e)
            self.publish(Topic.EVENT, e.to_dict())

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        if self.bus is not None:
            body.setdefault("agent", self.node_id)
            self.bus.publish(topic, body)

    def on_notification(self, n: Notification) -> None:
        events = self.model.notification(n.ne, n.trap_oid, n.varbinds, n.received)
        if events:
            self.emit(events)

    def _agent_event(self, text: str) -> Event:
        return Event(
            time=time.time(),
            ne="",
            type="agent",
            severity=Severity.INDETERMINATE,
            text=text,
            agent=self.node_id,
        )

"""One management server: wires the components together under one TaskGroup.

Which NEs this agent manages is an input (``set_managed``); until the pool
issue brings assignment, the inventory watcher hands it every NE in the DB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from agent.aiotools import with_deadline
from agent.bus import Bus
from agent.db import Database, migrate
from agent.netconf import NetconfClient, NetconfTarget
from agent.netconf.poller import NetconfPoller, NetconfPollTarget
from agent.outbox import Outbox, OutboxWriter
from agent.poller import Poller, PollTarget
from agent.snmp import SnmpClient
from agent.snmp.types import resolve_context
from agent.traps import Notification, TrapReceiver, TrapSource
from agent.trapv3 import local_engine
from shared.alarms import Change, rebuild
from shared.config import AgentConfig
from shared.errors import DatabaseError, EmspoolError, NotFound
from shared.model import (
    AlarmKey,
    CredentialProfile,
    Event,
    NetworkElement,
    Protocol,
    Severity,
    SnmpVersion,
)
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
        self.poller: Poller | None = None
        self.nc_poller: NetconfPoller | None = None
        self.receiver: TrapReceiver | None = None
        self.ready = asyncio.Event()
        self._inventory_changed = asyncio.Event()
        self._links_written: dict[str, tuple[tuple[str, str, str], ...]] = {}
        # SNMPv3 engine IDs learnt from traps (hex): the database's, plus those not saved yet.
        self._engines_learned: dict[str, str] = {}
        self._engines_unsaved: dict[str, str] = {}
        self._ambiguous_told: set[tuple[str, str, str, str]] = set()
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
        self.bus = bus = Bus(cfg.router_endpoint, cfg.pub_endpoint)
        stack.push_async_callback(bus.aclose)
        self._routes(bus)
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
                on_engine_learned=self.on_engine_learned,
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
            self._engines_learned = {**learned_engines, **self._engines_unsaved}
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
                    sources.setdefault(ne.address, []).append(self._trap_source(ne, profile))
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
                    self._show_v3(ne, targets[ne.name].profile)
        if closed:
            self.emit(closed)
        # Targets and v3 keys of changed or deleted profiles must not stay cached.
        self.poller.client.retain_profiles(profiles.values())
        self.poller.set_targets(targets)
        self.nc_poller.set_targets(nc_targets)
        if self.receiver is not None:
            self.receiver.set_sources(sources)
            self._tell_ambiguous(self.receiver.ambiguous)
        added, removed = managed - before, before - managed
        if added or removed:
            log.info("managing %d NEs (+%d -%d)", len(managed), len(added), len(removed))
            self.publish(Topic.AGENT, {"managed": sorted(managed)})

    def _trap_source(self, ne: NetworkElement, profile: CredentialProfile) -> TrapSource:
        learned = self._engines_learned.get(ne.name)
        return TrapSource(
            ne.name,
            profile,
            engine_id=bytes.fromhex(ne.engine_id) if ne.engine_id else None,
            learned=bytes.fromhex(learned) if learned else None,
        )

    def _show_v3(self, ne: NetworkElement, profile: CredentialProfile) -> None:
        """The NE state shows the v3 engine ID (pinned or learnt) and the context polled."""
        st = self.model.states.get(ne.name)
        if st is None:
            return
        v3 = profile.version is SnmpVersion.V3
        learned = self._engines_learned.get(ne.name, "")
        st.context = resolve_context(ne, profile) if v3 else ""
        st.engine_id = ne.engine_id or learned
        st.engine_source = "pinned" if ne.engine_id else ("learnt" if learned else "")

    def _tell_ambiguous(self, pairs: list[tuple[str, str, str, str]]) -> None:
        """An event (once per agent run) for each pair of NEs whose traps look alike."""
        events = [
            Event(
                time=time.time(),
                ne=ne,
                type="agent",
                severity=Severity.WARNING,
                text=f"traps from {address} cannot always be told from {other}'s: {why} "
                "(pin engine_id or use different credentials)",
                agent=self.node_id,
            )
            for address, a, b, why in pairs
            if (address, a, b, why) not in self._ambiguous_told
            for ne, other in ((a, b), (b, a))
        ]
        self._ambiguous_told.update(pairs)
        if events:
            self.emit(events)

    def on_engine_learned(self, ne: str, engine_id: bytes) -> None:
        """The receiver saw an NE's engine ID in an authenticated trap for the first time:
        keep it (the inventory loop writes it to the database) and show it."""
        self._engines_learned[ne] = self._engines_unsaved[ne] = engine_id.hex()
        st = self.model.states.get(ne)
        if st is not None and st.engine_source != "pinned":
            st.engine_id, st.engine_source = engine_id.hex(), "learnt"
        self._inventory_changed.set()

    async def _save_engines(self, db: Database) -> None:
        unsaved = dict(self._engines_unsaved)
        if not unsaved:
            return

        def save() -> None:
            for ne, engine_id in unsaved.items():
                db.save_engine(ne, engine_id, agent=self.node_id, source="trap")

        try:
            await asyncio.to_thread(save)
        except DatabaseError as e:
            log.warning("learnt engine IDs not saved, retrying later: %s", e)
            return
        for ne, engine_id in unsaved.items():
            if self._engines_unsaved.get(ne) == engine_id:
                del self._engines_unsaved[ne]

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

    async def _watch_inventory(self) -> None:
        assert self.db is not None
        db = self.db
        failing = False
        while True:
            await self._save_engines(db)
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

    # -- requests ---------------------------------------------------------------------
    def _routes(self, bus: Bus) -> None:
        bus.route("ping", self._ping)
        bus.route("status", self._status)
        bus.route("alarms", self._alarms)
        bus.route("ne_states", self._ne_states)
        bus.route("ne_detail", self._ne_detail)
        bus.route("ack", self._ack)
        bus.route("events", self._events)
        bus.route("nes", self._nes)
        bus.route("reload", self._reload)
        bus.route("links", self._links)

    async def _ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "time": time.time(),
            "pub_endpoint": self.bus.pub_endpoint if self.bus else None,
        }

    async def _status(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "priority": self.config.priority,
            "uptime": time.time() - self.started,
            "managed": len(self.model.states),
            "alarms_active": len(self.model.alarms.active()),
            "poller": dict(self.poller.stats) if self.poller else {},
            "netconf": dict(self.nc_poller.stats) if self.nc_poller else {},
            "traps": dict(self.receiver.counters) if self.receiver else {},
            "outbox": self.writer.counters() if self.writer else {},
            "bus": dict(self.bus.stats) if self.bus else {},
        }

    async def _alarms(self, args: dict[str, Any]) -> list[dict[str, object]]:
        ne = args.get("ne")
        include_cleared = bool(args.get("include_cleared", False))
        min_sev = Severity.parse(str(args.get("min_severity", "indeterminate")))
        alarms = self.model.alarms.for_ne(ne) if ne else list(self.model.alarms)
        out = [
            a.to_dict() | {"agent": self.node_id}
            for a in alarms
            if (include_cleared or a.active) and a.severity >= min_sev
        ]
        out.sort(key=lambda d: (-Severity.parse(str(d["severity"])), -float(d["last_seen"])))  # type: ignore[arg-type]
        return out

    async def _ne_states(self, args: dict[str, Any]) -> list[dict[str, object]]:
        return [st.summary() for st in self.model.states.values()]

    async def _ne_detail(self, args: dict[str, Any]) -> dict[str, object]:
        """One NE's whole live state and standing alarms (``emspool ne show``); ``state`` is
        None when this agent does not poll the NE."""
        name = str(args["ne"])
        st = self.model.states.get(name)
        alarms = sorted(
            (a.to_dict() | {"agent": self.node_id} for a in self.model.alarms.active(name)),
            key=lambda d: (-Severity.parse(str(d["severity"])), -float(d["last_seen"])),  # type: ignore[arg-type]
        )
        return {"agent": self.node_id, "state": st.detail() if st else None, "alarms": alarms}

    async def _ack(self, args: dict[str, Any]) -> dict[str, object]:
        key = AlarmKey(str(args["ne"]), str(args.get("obj", "")), str(args["type"]))
        if self.model.alarms.get(key) is None:
            raise NotFound(f"no alarm {key}")
        user = str(args.get("user") or "unknown")
        events = self.model.ack(key, user, time.time(), undo=bool(args.get("undo", False)))
        self.emit(events)
        alarm = self.model.alarms.get(key)
        return alarm.to_dict() if alarm else {}

    async def _events(self, args: dict[str, Any]) -> list[dict[str, object]]:
        assert self.db is not None
        db = self.db
        limit = min(int(args.get("limit", 100)), 1000)
        rows = await asyncio.to_thread(
            lambda: db.query_events(
                ne=args.get("ne"),
                since=args.get("since"),
                limit=limit,
            )
        )
        return [e.to_dict() for e in rows]

    async def _nes(self, args: dict[str, Any]) -> list[dict[str, object]]:
        assert self.db is not None
        nes = await asyncio.to_thread(self.db.list_nes)
        states = self.model.states
        return [
            ne.to_dict() | {"state": states[ne.name].summary() if ne.name in states else None}
            for ne in nes
        ]

    async def _links(self, args: dict[str, Any]) -> list[dict[str, object]]:
        assert self.db is not None
        found = await asyncio.to_thread(self.db.list_links, args.get("source"))
        return [
            {"a": k.a_ne, "a_port": k.a_port, "b": k.b_ne, "b_port": k.b_port, "source": k.source}
            for k in found
        ]

    async def _reload(self, args: dict[str, Any]) -> dict[str, object]:
        self._inventory_changed.set()
        return {"reloading": True}

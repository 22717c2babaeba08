"""The managed set: which NEs this agent polls, accepts traps from and keeps alarms for.

One job, the seam between "who owns what" (the assignment follower, agent/follower.py)
and the components that act on it: the SNMP and NETCONF pollers, the trap receiver and the
nodal model. ``apply`` takes the whole inventory plus the names this agent owns; an NE
that leaves the set because another agent took it is only forgotten here (its new owner
rebuilds its alarms from the event log), one that left management for good (removed,
unmanaged, unusable credentials) has its standing alarms closed with a reason.

Trap sources cover every usable pool NE, owned or not: a trap from an NE another agent
manages is still authenticated here, then forwarded to its owner (agent/app.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from agent.nestate import read_snapshots
from agent.netconf import NetconfTarget
from agent.netconf.poller import NetconfPollTarget
from agent.poller import PollTarget
from agent.traps import TrapSource
from shared.alarms import Change, rebuild
from shared.errors import DatabaseError
from shared.model import CredentialProfile, Event, NetworkElement, Protocol
from shared.wire import Topic

if TYPE_CHECKING:
    from agent.app import Agent

log = logging.getLogger(__name__)

REBUILD_WINDOW = 30 * 86400.0  # how far back the event log is read to rebuild alarms
ALARM_EVENT_TYPES = [c.value for c in Change]
HISTORY_MAX = 1_000_000  # events read at most when rebuilding (bounded start-up cost)
HISTORY_PAGE = 10_000


def why_unmanaged(ne: NetworkElement | None) -> str:
    """The reason recorded when an NE's alarms are closed because it left management."""
    if ne is None:
        return "closed: NE removed from the inventory"
    if not ne.managed:
        return "closed: NE unmanaged"
    return "closed: NE no longer polled (credentials profile missing or unusable)"


class ManagedSet:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._sources: dict[str, list[TrapSource]] | None = None  # last given to the receiver

    def apply(
        self,
        nes: list[NetworkElement],
        profiles: dict[str, CredentialProfile],
        learned_engines: dict[str, str] | None = None,
        *,
        owned: Collection[str] | None = None,
        poll_now: Collection[str] = (),
    ) -> None:
        """``owned``: the NE names assigned to this agent (None: every NE, one agent
        alone). ``poll_now``: NEs taken over from another agent, polled at once instead of
        at their phase. ``learned_engines``: NE -> v3 engine ID (hex) as the database has
        it; None keeps what this agent knows (an NE missing from it was reset)."""
        a = self.agent
        assert a.poller is not None and a.nc_poller is not None
        if learned_engines is not None:
            a.trap_sources.load(learned_engines)
        targets: dict[str, PollTarget] = {}
        nc_targets: dict[str, NetconfPollTarget] = {}
        sources: dict[str, list[TrapSource]] = {}
        for ne in nes:
            if not ne.managed:
                continue
            mine = owned is None or ne.name in owned
            profile = profiles.get(ne.profile)
            if profile is None:
                if mine:
                    log.error("credentials profile %r missing", ne.profile, extra={"ne": ne.name})
                continue
            if Protocol.SNMP in ne.protocols:
                if profile.has_snmp:
                    sources.setdefault(ne.address, []).append(a.trap_sources.source(ne, profile))
                    if mine:
                        targets[ne.name] = PollTarget(ne, profile)
                elif mine:
                    log.error(
                        "profile %r has no SNMP credentials", profile.name, extra={"ne": ne.name}
                    )
            if Protocol.NETCONF in ne.protocols and mine:
                if profile.has_ssh:
                    nc_targets[ne.name] = NetconfPollTarget(ne, self.netconf_target(ne, profile))
                else:
                    log.error(
                        "profile %r has no SSH credentials", profile.name, extra={"ne": ne.name}
                    )
        managed = set(targets) | set(nc_targets)
        before = a.poller.names | a.nc_poller.names
        now = time.time()
        inventory = {ne.name: ne for ne in nes}
        usable = {ne.name for ne in nes if ne.managed and ne.profile in profiles}
        closed: list[Event] = []
        for name in before - managed:
            if owned is not None and name in usable and name not in owned:
                a.model.remove_ne(name)  # moved to another agent: it rebuilds the alarms
            else:
                closed += a.model.remove_ne(name, now, why_unmanaged(inventory.get(name)))
        for ne in nes:
            if ne.name in managed:
                a.model.add_ne(ne.name, ne)
                if ne.name in targets:
                    a.trap_sources.show(ne, targets[ne.name].profile)
        if closed:
            a.emit(closed)
        # Targets and v3 keys of changed or deleted profiles must not stay cached.
        a.poller.client.retain_profiles(profiles.values())
        urgent = set(poll_now) & managed
        a.poller.set_targets(targets, poll_now=urgent)
        a.nc_poller.set_targets(nc_targets, poll_now=urgent)
        # Trap sources are every pool NE, not only ours (traps of others are forwarded):
        # a takeover leaves them as they were, and rebuilding thousands of them (v3 users
        # included) would hold the loop for a good part of a second during a failover.
        if a.receiver is not None and sources != self._sources:
            a.receiver.set_sources(sources)
            a.trap_sources.tell_ambiguous(a.receiver.ambiguous)
            self._sources = sources
        added, removed = managed - before, before - managed
        if added or removed:
            log.info("managing %d NEs (+%d -%d)", len(managed), len(added), len(removed))
            a.publish(Topic.AGENT, {"managed": sorted(managed)})

    def netconf_target(self, ne: NetworkElement, profile: CredentialProfile) -> NetconfTarget:
        cfg = self.agent.config
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

    async def alarm_history(self, names: list[str]) -> list[Event]:
        """The alarm transitions of ``names`` in the event log (REBUILD_WINDOW back)."""
        db = self.agent.db
        assert db is not None
        since = time.time() - REBUILD_WINDOW

        def fetch() -> list[Event]:
            out: list[Event] = []
            before: tuple[float, str] | None = None
            while len(out) < HISTORY_MAX:
                page = db.query_events(
                    ne=names,
                    since=since,
                    types=ALARM_EVENT_TYPES,
                    limit=HISTORY_PAGE,
                    before=before,
                )
                out += page
                if len(page) < HISTORY_PAGE:
                    break
                before = (page[-1].time, page[-1].id)
            return out

        try:
            return await asyncio.to_thread(fetch)
        except DatabaseError as e:
            log.warning("alarm history not readable, starting those NEs empty: %s", e)
            return []

    async def seen_up(self, names: list[str]) -> dict[str, set[int]]:
        """The ports each NE's previous owner had seen up (its last state snapshot)."""
        db = self.agent.db
        assert db is not None
        try:
            snaps = await asyncio.to_thread(read_snapshots, db, names)
        except DatabaseError as e:
            log.warning("NE snapshots not readable, ports seen up start empty: %s", e)
            return {}
        out: dict[str, set[int]] = {}
        for name, snap in snaps.items():
            raw = snap.get("ever_up")
            if isinstance(raw, list):
                out[name] = {i for i in raw if isinstance(i, int) and not isinstance(i, bool)}
        return out

    def seed_seen_up(self, seen: dict[str, set[int]]) -> None:
        for name, indexes in seen.items():
            st = self.agent.model.states.get(name)
            if st is not None:
                st.ever_up |= indexes

    def restore(self, history: list[Event]) -> None:
        """Standing alarms of newly managed NEs, with their raise time and ack, from the
        event log; the first polls then clear whatever went away meanwhile."""
        model = self.agent.model
        alarms = [
            al
            for al in rebuild(history, self.agent.config.alarms.restart_hold)
            if al.key.ne in model.states and model.alarms.get(al.key) is None
        ]
        if alarms:
            model.restore(alarms)
            log.info("restored %d standing alarms from the event log", len(alarms))

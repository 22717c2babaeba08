"""SNMP polling of one NE per cycle (the schedule itself is agent.schedule).

Which NEs to poll is an input (``set_targets``) that may change at any time:
the pool's assignment will drive it. Each NE keeps a fixed phase inside the
interval (hash of its name), so a fleet spreads its load instead of polling
everything at once, and a slow NE never delays another one's schedule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.schedule import ScheduledPoller
from agent.snmp import SnmpClient, SnmpTarget
from agent.snmp.types import v3_fields
from shared import mib
from shared.config import PollingConfig
from shared.errors import SnmpAuthError, SnmpError, SnmpProtocolError, SnmpTimeout
from shared.model import CredentialProfile, Event, NetworkElement, SnmpVersion
from shared.nodal import NodalModel, PollResult

log = logging.getLogger(__name__)

EventSink = Callable[[list[Event]], None]


@dataclass(frozen=True, slots=True)
class PollTarget:
    ne: NetworkElement
    profile: CredentialProfile


@dataclass(slots=True)
class _NeSchedule:
    target: PollTarget
    task: asyncio.Task[None] | None = None
    cycle: int = 0
    hc_counters: bool = True  # falls back to 32-bit counters when ifXTable is absent


class Poller(ScheduledPoller[PollTarget, _NeSchedule]):
    def __init__(
        self,
        client: SnmpClient,
        model: NodalModel,
        emit: EventSink,
        config: PollingConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(model, emit, config, clock, {"varbinds": 0})
        self.client = client

    def _new_schedule(self, target: PollTarget) -> _NeSchedule:
        return _NeSchedule(target)

    async def poll_once(self, sched: _NeSchedule) -> None:
        target = sched.target
        full = sched.cycle % self.config.lldp_every == 0
        sched.cycle += 1
        async with self._sem:
            try:
                result = await self._poll(sched, full)
            except SnmpError as e:
                events = self.model.poll_failed(target.ne.name, self.clock(), _describe(e))
                self.stats["failures"] += 1
                log.info("poll failed", extra={"ne": target.ne.name, "error": _describe(e)})
            else:
                events = self.model.poll_ok(result)
            self.stats["polls"] += 1
        if events:
            self.emit(events)

    async def _poll(self, sched: _NeSchedule, full: bool) -> PollResult:
        ne, profile = sched.target.ne, sched.target.profile
        snmp_target = SnmpTarget(
            host=ne.address,
            port=ne.port,
            profile=profile,
            timeout=self.config.timeout,
            retries=self.config.retries,
            **v3_fields(ne, profile),
        )
        scalars = [mib.SYS_UPTIME, mib.SYS_NAME, mib.SYS_DESCR] if full else [mib.SYS_UPTIME]
        got = await self.client.get(snmp_target, scalars)
        v1 = profile.version is SnmpVersion.V1
        hc = sched.hc_counters and not v1
        columns = mib.FAST_COLUMNS_HC if hc else mib.FAST_COLUMNS_32
        if full:
            columns = columns + mib.SLOW_COLUMNS
        walked = await self.client.walk_many(snmp_target, columns)
        if hc and walked.get(mib.IF_ADMIN_STATUS) and not walked.get(mib.IF_HC_IN_OCTETS):
            sched.hc_counters = hc = False
            walked.update(
                await self.client.walk_many(snmp_target, (mib.IF_IN_OCTETS, mib.IF_OUT_OCTETS))
            )
        neighbours = None
        if full:
            try:
                lldp = await self.client.walk_many(snmp_target, mib.LLDP_COLUMNS)
            except SnmpProtocolError:
                lldp = {}  # an NE without LLDP is not a failed poll
            neighbours = mib.neighbours(lldp)
        self.stats["varbinds"] += len(got) + sum(len(rows) for rows in walked.values())
        uptime = got.get(mib.SYS_UPTIME)
        st = self.model.states.get(ne.name)
        return PollResult(
            ne=ne.name,
            time=self.clock(),
            sys_uptime=uptime if isinstance(uptime, int) else None,
            interfaces=mib.interfaces(walked, st.interfaces if st else {}),
            counter_bits=64 if hc else 32,
            sys_name=mib.text(got.get(mib.SYS_NAME)) if full else None,
            sys_descr=mib.text(got.get(mib.SYS_DESCR)) if full else None,
            neighbours=neighbours,
        )


def _describe(e: SnmpError) -> str:
    if isinstance(e, SnmpTimeout):
        return f"no SNMP answer ({e})"
    if isinstance(e, SnmpAuthError):
        return f"SNMP authentication failed ({e})"
    return f"SNMP error ({e})"

"""Per-NE polling schedule with bounded concurrency.

Which NEs to poll is an input (``set_targets``) that may change at any time:
the pool's assignment will drive it. Each NE keeps a fixed phase inside the
interval (hash of its name), so a fleet spreads its load instead of polling
everything at once, and a slow NE never delays another one's schedule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent import schedule
from agent.snmp import SnmpClient, SnmpTarget
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


class Poller:
    def __init__(
        self,
        client: SnmpClient,
        model: NodalModel,
        emit: EventSink,
        config: PollingConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.model = model
        self.emit = emit
        self.config = config
        self.clock = clock
        self._sem = asyncio.Semaphore(config.concurrency)
        self._nes: dict[str, _NeSchedule] = {}
        self.stats = {"polls": 0, "failures": 0, "skipped_slots": 0, "varbinds": 0}

    @property
    def names(self) -> set[str]:
        return set(self._nes)

    def set_targets(self, targets: Mapping[str, PollTarget]) -> None:
        """Start polling new NEs, stop polling gone ones, restart changed ones."""
        for name in list(self._nes):
            if name not in targets or targets[name] != self._nes[name].target:
                self._cancel(self._nes.pop(name))
                if name not in targets:
                    self.model.remove_ne(name)
        for name, target in targets.items():
            if name not in self._nes:
                self.model.add_ne(name)
                sched = _NeSchedule(target)
                sched.task = asyncio.create_task(self._loop(sched), name=f"poll:{name}")
                self._nes[name] = sched

    async def close(self) -> None:
        tasks = [s.task for s in self._nes.values() if s.task is not None]
        for s in self._nes.values():
            self._cancel(s)
        self._nes.clear()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _cancel(sched: _NeSchedule) -> None:
        if sched.task is not None:
            sched.task.cancel()

    def interval_of(self, ne: NetworkElement) -> float:
        return ne.poll_interval or self.config.interval

    async def _loop(self, sched: _NeSchedule) -> None:
        ne = sched.target.ne
        await schedule.every(
            ne.name, self.interval_of(ne), lambda: self.poll_once(sched), self._skipped
        )

    def _skipped(self, slots: int) -> None:
        self.stats["skipped_slots"] += slots

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

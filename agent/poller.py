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
from dataclasses import dataclass, field

from agent.schedule import EventSink, ScheduledPoller
from agent.snmp import SnmpClient, SnmpTarget
from agent.snmp.types import v3_fields
from shared import mib
from shared.config import PollingConfig
from shared.errors import SnmpAuthError, SnmpError, SnmpProtocolError, SnmpTimeout
from shared.model import CredentialProfile, NetworkElement, SnmpVersion
from shared.nodal import NodalModel, PollResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollTarget:
    ne: NetworkElement
    profile: CredentialProfile


@dataclass(slots=True)
class _NeSchedule:
    target: PollTarget
    task: asyncio.Task[None] | None = None
    cycle: int = 0
    # Which octet counters to read (HC, 32-bit or both, per interface): learnt each poll.
    counters: mib.CounterPlan = field(default_factory=mib.CounterPlan)
    # Per area ("interfaces", "lldp"): polls in which the agent served a table out of
    # order, and whether the last poll of that area did (to log once per episode).
    disorder: dict[str, int] = field(default_factory=dict)
    disordered_now: set[str] = field(default_factory=set)


# What a poll found wrong with the NE besides failing: area -> text, None = fine again.
Problems = dict[str, str | None]


class Poller(ScheduledPoller[PollTarget, _NeSchedule]):
    def __init__(
        self,
        client: SnmpClient,
        model: NodalModel,
        emit: EventSink,
        config: PollingConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(model, emit, config, clock, {"varbinds": 0, "out_of_order": 0})
        self.client = client

    def _new_schedule(self, target: PollTarget) -> _NeSchedule:
        return _NeSchedule(target)

    async def poll_once(self, sched: _NeSchedule) -> None:
        target = sched.target
        full = sched.cycle % self.config.lldp_every == 0
        sched.cycle += 1
        problems: Problems = {}
        async with self.slot(target.ne.name):
            try:
                result = await self._poll(sched, full, problems)
            except SnmpError as e:
                events = self.model.poll_failed(target.ne.name, self.clock(), _describe(e))
                self.stats["failures"] += 1
                log.info("poll failed", extra={"ne": target.ne.name, "error": _describe(e)})
            else:
                events = self.model.poll_ok(result)
            self.stats["polls"] += 1
        st = self.model.states.get(target.ne.name)
        if st is not None:
            for area, text in problems.items():
                if text is None:
                    st.problems.pop(area, None)
                else:
                    st.problems[area] = text
        if events:
            self.emit(events)

    async def _poll(self, sched: _NeSchedule, full: bool, problems: Problems) -> PollResult:
        ne, profile = sched.target.ne, sched.target.profile
        snmp_target = SnmpTarget(
            host=ne.address,
            port=ne.port,
            profile=profile,
            timeout=self.config.timeout,
            retries=self.config.retries,
            **v3_fields(ne, profile),
        )
        v1 = profile.version is SnmpVersion.V1  # no Counter64 in SNMPv1
        plan = mib.CounterPlan("32") if v1 else sched.counters
        scalars = [mib.SYS_UPTIME, mib.SYS_NAME, mib.SYS_DESCR] if full else [mib.SYS_UPTIME]
        got = await self.client.get(snmp_target, scalars + plan.instances())
        columns = {
            "hc": mib.FAST_COLUMNS_HC,
            "mixed": mib.FAST_COLUMNS_MIXED,
            "32": mib.FAST_COLUMNS_32,
        }[plan.mode]
        if full:
            columns = columns + mib.SLOW_COLUMNS
            if plan.mode == "32" and not v1:
                columns = columns + mib.HC_OCTETS  # has the device gained them since?
        walked = await self.client.walk_many(snmp_target, columns)
        out_of_order = dict(walked.out_of_order)
        mib.add_instances(walked, got)
        st = self.model.states.get(ne.name)
        previous = st.interfaces if st else {}
        interfaces = mib.interfaces(walked, previous)
        if plan.mode == "hc":
            new_plan = mib.counter_plan(interfaces)
            unread = set(new_plan.get_32) - set(plan.get_32)
            if new_plan.mode != "hc" or unread:
                # Interfaces without HC counters that this poll did not read the 32-bit
                # counters of (first poll, or new interfaces): read them now.
                if new_plan.mode == "hc":
                    mib.add_instances(
                        walked,
                        await self.client.get(
                            snmp_target, mib.CounterPlan("hc", tuple(sorted(unread))).instances()
                        ),
                    )
                else:
                    extra = await self.client.walk_many(snmp_target, mib.OCTETS_32)
                    walked.update(extra)
                    out_of_order |= extra.out_of_order
                interfaces = mib.interfaces(walked, previous)
        if not v1 and interfaces:
            sched.counters = mib.counter_plan(interfaces)
        self._disorder(sched, "interfaces", out_of_order, problems)
        neighbours = None
        if full:
            try:
                lldp = await self.client.walk_many(snmp_target, mib.LLDP_COLUMNS)
            except SnmpProtocolError as e:
                # An NE without LLDP answers with the next subtree, not an error: this one
                # broke the walk (a loop, an error status). The neighbours last read stay;
                # polling goes on, and the NOC is told.
                self._lldp_unreadable(sched, str(e), problems)
            else:
                self._disorder(sched, "lldp", lldp.out_of_order, problems)
                neighbours = mib.neighbours(lldp)
        self.stats["varbinds"] += len(got) + sum(len(rows) for rows in walked.values())
        uptime = got.get(mib.SYS_UPTIME)
        return PollResult(
            ne=ne.name,
            time=self.clock(),
            sys_uptime=uptime if isinstance(uptime, int) else None,
            interfaces=interfaces,
            sys_name=mib.text(got.get(mib.SYS_NAME)) if full else None,
            sys_descr=mib.text(got.get(mib.SYS_DESCR)) if full else None,
            neighbours=neighbours,
        )

    def _disorder(
        self, sched: _NeSchedule, area: str, out_of_order: dict[mib.Oid, int], problems: Problems
    ) -> None:
        """Count, log once per episode and surface an agent serving tables out of order;
        the walk already kept every row it could read safely."""
        name = sched.target.ne.name
        if not out_of_order:
            if area in sched.disordered_now:
                sched.disordered_now.discard(area)
                log.info("agent serves %s tables in order again", area, extra={"ne": name})
            problems[area] = None
            return
        self.stats["out_of_order"] += 1
        count = sched.disorder[area] = sched.disorder.get(area, 0) + 1
        tables = ", ".join(sorted({mib.table_name(c) for c in out_of_order}))
        problems[area] = f"agent returned OIDs out of order in {tables} ({count} times)"
        if area not in sched.disordered_now:
            sched.disordered_now.add(area)
            log.warning(
                "agent returned OIDs out of order in %s; rows kept (walked as snmpwalk -Cc "
                "does, with a cycle guard)",
                tables,
                extra={"ne": name},
            )

    def _lldp_unreadable(self, sched: _NeSchedule, error: str, problems: Problems) -> None:
        problems["lldp"] = f"LLDP tables not readable: {error}"
        if "lldp" not in sched.disordered_now:
            sched.disordered_now.add("lldp")
            log.warning(
                "LLDP tables not readable", extra={"ne": sched.target.ne.name, "error": error}
            )


def _describe(e: SnmpError) -> str:
    if isinstance(e, SnmpTimeout):
        return f"no SNMP answer ({e})"
    if isinstance(e, SnmpAuthError):
        return f"SNMP authentication failed ({e})"
    return f"SNMP error ({e})"

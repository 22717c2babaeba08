"""Per-NE NETCONF polling, mirroring agent/poller.py: fixed-rate schedule with a phase per
NE, bounded concurrency, results into the NodalModel, events to a sink.

Each poll is one <get> (interfaces, system, alarm list, LLDP). After the first good poll
the NE gets an RFC 5277 subscription; the client keeps it across reconnects and calls
back here, and we re-poll at once so alarms raised while the session was down appear
and ones cleared meanwhile clear (the device's alarm list is the truth).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agent.schedule import EventSink, ScheduledPoller
from shared import nodal_netconf, yang
from shared.config import PollingConfig
from shared.model import Event, NetworkElement
from shared.nodal import NodalModel

from .client import NetconfClient
from .errors import HostKeyError, NetconfAuthError, NetconfError, NetconfTimeout
from .types import NetconfTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NetconfPollTarget:
    ne: NetworkElement
    target: NetconfTarget


@dataclass(slots=True)
class _NeSchedule:
    target: NetconfPollTarget
    task: asyncio.Task[None] | None = None
    subscribed: bool = False
    cycle: int = 0


class NetconfPoller(ScheduledPoller[NetconfPollTarget, _NeSchedule]):
    task_prefix = "ncpoll"

    def __init__(
        self,
        client: NetconfClient,
        model: NodalModel,
        emit: EventSink,
        config: PollingConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            model,
            emit,
            config,
            clock,
            {"notifications": 0, "resubscribed": 0, "host_key_refused": 0},
        )
        self.client = client

    def _new_schedule(self, target: NetconfPollTarget) -> _NeSchedule:
        return _NeSchedule(target)

    def _released(self, sched: _NeSchedule) -> Awaitable[None]:
        return self.client.close(sched.target.target)

    def malformed_notifications(self) -> int:
        return sum(self.client.malformed_notifications(s.target.target) for s in self._nes.values())

    async def poll_once(self, sched: _NeSchedule) -> None:
        name, target = sched.target.ne.name, sched.target.target
        async with self.slot(name):
            try:
                data = await self.client.get(target, yang.POLL_FILTER)
            except HostKeyError as e:
                self.stats["host_key_refused"] += 1
                self.stats["failures"] += 1
                events = nodal_netconf.host_key_refused(self.model, name, str(e), self.clock())
                log.warning("host key refused", extra={"ne": name, "error": str(e)})
            except NetconfError as e:
                self.stats["failures"] += 1
                events = self.model.poll_failed(name, self.clock(), _describe(e))
                log.info("netconf poll failed", extra={"ne": name, "error": _describe(e)})
            else:
                events = self._apply(name, data)
                # The configuration changes rarely: read it with the LLDP rhythm.
                if sched.cycle % self.config.lldp_every == 0:
                    await self._read_config(name, target)
                sched.cycle += 1
            self.stats["polls"] += 1
        if events:
            self.emit(events)
        if not sched.subscribed and self.client.is_connected(target):
            await self._subscribe(sched)

    async def _read_config(self, name: str, target: NetconfTarget) -> None:
        try:
            config = await self.client.get_config(target)
            capabilities = await self.client.capabilities(target)
        except NetconfError as e:  # a device refusing get-config is not an unreachable NE
            log.info("get-config failed", extra={"ne": name, "error": _describe(e)})
            return
        st = self.model.states.get(name)
        if st is not None:
            st.config = yang.config_summary(config) | yang.capability_summary(capabilities)

    def _apply(self, name: str, data: object) -> list[Event]:
        now = self.clock()
        events = nodal_netconf.host_key_ok(self.model, name, now)
        events += self.model.poll_ok(yang.poll_result(name, data, now))
        if yang.has_alarm_list(data):
            events += nodal_netconf.device_alarms(self.model, name, yang.alarms(data), now)
        return events

    async def _subscribe(self, sched: _NeSchedule) -> None:
        name, target = sched.target.ne.name, sched.target.target

        def on_notification(n: yang.Notification) -> None:
            self.stats["notifications"] += 1
            events = nodal_netconf.device_notification(self.model, name, n, self.clock())
            if events:
                self.emit(events)

        async def on_reconnect() -> None:
            self.stats["resubscribed"] += 1
            if self._nes.get(name) is sched:
                await self.poll_supervised(sched)

        try:
            await self.client.subscribe(target, on_notification, on_reconnect)
        except NetconfError as e:
            log.info("netconf subscribe failed", extra={"ne": name, "error": str(e)})
            return
        sched.subscribed = True


def _describe(e: NetconfError) -> str:
    if isinstance(e, NetconfTimeout):
        return f"no NETCONF answer ({e})"
    if isinstance(e, NetconfAuthError):
        return f"NETCONF authentication failed ({e})"
    return f"NETCONF error ({e})"

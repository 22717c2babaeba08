"""The polling rhythm shared by the SNMP and NETCONF pollers."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from shared.config import PollingConfig
from shared.model import Event, NetworkElement
from shared.nodal import NodalModel

T = TypeVar("T", bound="_Target")
T_co = TypeVar("T_co", covariant=True)
S = TypeVar("S", bound="_Schedule[Any]")


async def every(
    name: str,
    interval: float,
    poll: Callable[[], Awaitable[None]],
    on_skipped: Callable[[int], None],
) -> None:
    """Call ``poll`` at a fixed rate until cancelled.

    Each NE keeps a phase derived from its name (spread over the first 10 s), so a fleet
    spreads its load instead of polling all at once. If a poll overruns, the slots it ate
    are skipped (and counted) instead of bunching the following polls together.
    """
    loop = asyncio.get_running_loop()
    phase = (zlib.crc32(name.encode()) % 1000) / 1000 * min(interval, 10.0)
    start = loop.time() + phase
    slot = 0
    while True:
        await asyncio.sleep(max(0.0, start + slot * interval - loop.time()))
        await poll()
        elapsed_slots = int((loop.time() - start) // interval) + 1
        if elapsed_slots > slot + 1:
            on_skipped(elapsed_slots - slot - 1)
        slot = max(slot + 1, elapsed_slots)


class _Target(Protocol):
    @property
    def ne(self) -> NetworkElement: ...


class _Schedule(Protocol[T_co]):
    @property
    def target(self) -> T_co: ...

    task: asyncio.Task[None] | None


class ScheduledPoller(Generic[T, S]):
    """What the SNMP and NETCONF pollers share: one task per NE at a fixed rate, bounded
    concurrency, and a target set that can change at any time (the pool's assignment).
    Which NEs the model knows is the owner's business (an NE may speak both protocols):
    results for an NE the model does not know are ignored.

    Subclasses say how to make a schedule for a target, how to poll once, and what to
    release when an NE stops being polled.
    """

    task_prefix = "poll"

    def __init__(
        self,
        model: NodalModel,
        emit: Callable[[list[Event]], None],
        config: PollingConfig,
        clock: Callable[[], float],
        stats: dict[str, int],
    ) -> None:
        self.model = model
        self.emit = emit
        self.config = config
        self.clock = clock
        self._sem = asyncio.Semaphore(config.concurrency)
        self._nes: dict[str, S] = {}
        self.stats = {"polls": 0, "failures": 0, "skipped_slots": 0} | stats

    @property
    def names(self) -> set[str]:
        return set(self._nes)

    def _new_schedule(self, target: T) -> S:
        raise NotImplementedError

    async def poll_once(self, sched: S) -> None:
        raise NotImplementedError

    def _released(self, sched: S) -> None:
        """An NE stopped being polled (removed or changed): free what it held."""

    def set_targets(self, targets: Mapping[str, T]) -> None:
        """Start polling new NEs, stop polling gone ones, restart changed ones."""
        for name in list(self._nes):
            if name not in targets or targets[name] != self._nes[name].target:
                self._stop(self._nes.pop(name))
        for name, target in targets.items():
            if name not in self._nes:
                sched = self._new_schedule(target)
                sched.task = asyncio.create_task(
                    self._loop(sched, target.ne), name=f"{self.task_prefix}:{name}"
                )
                self._nes[name] = sched

    async def close(self) -> None:
        scheds = list(self._nes.values())
        self._nes.clear()
        for s in scheds:
            self._stop(s)
        await asyncio.gather(*(s.task for s in scheds if s.task), return_exceptions=True)

    def interval_of(self, ne: NetworkElement) -> float:
        return ne.poll_interval or self.config.interval

    def _stop(self, sched: S) -> None:
        if sched.task is not None:
            sched.task.cancel()
        self._released(sched)

    async def _loop(self, sched: S, ne: NetworkElement) -> None:
        await every(ne.name, self.interval_of(ne), lambda: self.poll_once(sched), self._skipped)

    def _skipped(self, slots: int) -> None:
        self.stats["skipped_slots"] += slots

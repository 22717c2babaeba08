"""The polling rhythm shared by the SNMP and NETCONF pollers, and its supervision."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from shared.config import PollingConfig
from shared.histogram import Histogram
from shared.model import Event, NetworkElement
from shared.nodal import NodalModel

T = TypeVar("T", bound="_Target")
T_co = TypeVar("T_co", covariant=True)
S = TypeVar("S", bound="_Schedule[Any]")

log = logging.getLogger(__name__)

EventSink = Callable[[list[Event]], None]

# After the first crash of an NE's poll (logged with its traceback), at most one line per
# NE per this many seconds: a parser bug on odd data would otherwise log every cycle.
CRASH_LOG_EVERY = 600.0
TAKEOVER_SPREAD = 1.0  # seconds over which NEs taken over are first polled, at most
TAKEOVER_RATE = 1000.0  # NEs taken over per second first polled: 20 within 20 ms
FIRST_SPREAD = 10.0  # seconds over which an agent's NEs are first polled after its start
HELD_RETRY = 0.5  # seconds between asks of a gate that refused a poll
HELD_SHARE = 0.8  # of an interval a refused poll keeps asking before it skips the slot


@dataclass(frozen=True, slots=True)
class Rhythm:
    """When an NE is polled, in seconds from its start: ``first``, then ``phase`` + k *
    interval for k >= ``first_slot``."""

    first: float
    phase: float
    first_slot: int

    @classmethod
    def of(cls, name: str, interval: float, takeover: float | None = None) -> Rhythm:
        """``takeover``: the seconds the first polls of the NEs taken over are spread over
        (None: an NE of this agent's start, FIRST_SPREAD)."""
        share = (zlib.crc32(name.encode()) % 1000) / 1000
        first = share * min(interval, FIRST_SPREAD if takeover is None else takeover)
        phase = share * interval
        return cls(first, phase, max(0, math.ceil((first + interval / 2 - phase) / interval)))


async def every(
    name: str,
    interval: float,
    poll: Callable[[], Awaitable[None]],
    on_skipped: Callable[[int], None],
    *,
    takeover: float | None = None,
) -> None:
    """Call ``poll`` at a fixed rate until cancelled.

    The first poll comes soon: within FIRST_SPREAD of the start (an agent starting knows
    its NEs within seconds), or within ``takeover`` seconds for NEs taken over from another
    agent (they must not wait, but a thousand polled in the same instant would starve the
    loop: the spread grows with their number, TAKEOVER_RATE, up to TAKEOVER_SPREAD). The
    rhythm after it has a phase spread over the whole interval, both from the NE's name:
    a fleet's polls then come at an even rate, not in a burst of every NE each interval
    (with the phase within the first 10 s, 1,000 NEs polled every 60 s came 100 a second
    for 10 s, and a failover landing on that burst timed out and retried). The first slot
    of the rhythm is at least half an interval after the first poll. If a poll overruns,
    the slots it ate are skipped (and counted) instead of bunching the following polls.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    plan = Rhythm.of(name, interval, takeover)
    first, rhythm, slot = start + plan.first, start + plan.phase, plan.first_slot
    await asyncio.sleep(max(0.0, first - loop.time()))
    await poll()
    while True:
        await asyncio.sleep(max(0.0, rhythm + slot * interval - loop.time()))
        await poll()
        elapsed_slots = int((loop.time() - rhythm) // interval) + 1
        if elapsed_slots > slot + 1:
            on_skipped(elapsed_slots - slot - 1)
        slot = max(slot + 1, elapsed_slots)


@dataclass(slots=True)
class _Crashes:
    count: int = 0
    logged_at: float = 0.0
    unlogged: int = 0  # crashes since the last line logged


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

    Supervision: an exception a poll did not expect (a bug, e.g. a parser meeting odd data)
    must not end that NE's polling for good. It is logged (once with its traceback, then
    rate-limited), counted (``stats["poll_crashes"]``), shown in the NE state (``last_error``
    and ``problems["poll"]``), and the NE is polled again at its next slot. Every task this
    class starts is kept until it has ended, and ``close()`` waits for all of them.
    """

    task_prefix = "poll"

    def __init__(
        self,
        model: NodalModel,
        emit: EventSink,
        config: PollingConfig,
        clock: Callable[[], float],
        stats: dict[str, int],
    ) -> None:
        self.model = model
        self.emit = emit
        self.config = config
        self.clock = clock
        self._sem = asyncio.Semaphore(config.concurrency)
        # The first polls of NEs taken over from another agent have a lane of their own:
        # with one bound for all, the last of a thousand orphans waited seconds for slots
        # routine polls and the first orphans held, long after the failover was over.
        self._takeover_sem = asyncio.Semaphore(config.takeover_concurrency)
        self._urgent: set[str] = set()  # NEs whose first poll goes by that lane
        self._nes: dict[str, S] = {}
        self._crashes: dict[str, _Crashes] = {}
        # Tasks cancelled or started on the side (releases) that have not ended yet.
        self._ending: set[asyncio.Future[None]] = set()
        self.stats = {
            "polls": 0,
            "failures": 0,
            "skipped_slots": 0,
            "poll_crashes": 0,
            "held": 0,
        } | stats
        self.latency = Histogram()  # seconds per poll, waiting for the concurrency bound included
        # Awaited before every poll: False skips it (counted). The assignment follower holds
        # polls while it is not sure this agent still owns its NEs (after a pause).
        # True: poll; False: held for now (ask again); None: skip this slot, ask no more.
        self.gate: Callable[[str], Awaitable[bool | None]] | None = None

    @property
    def names(self) -> set[str]:
        return set(self._nes)

    def _new_schedule(self, target: T) -> S:
        raise NotImplementedError

    async def poll_once(self, sched: S) -> None:
        raise NotImplementedError

    def _released(self, sched: S) -> Awaitable[None] | None:
        """An NE stopped being polled (removed or changed): free what it held. What it
        returns is awaited in a task of its own that close() waits for."""
        return None

    def set_targets(self, targets: Mapping[str, T], poll_now: Collection[str] = ()) -> None:
        """Start polling new NEs, stop polling gone ones, restart changed ones; new NEs
        named in ``poll_now`` are polled at once rather than at their phase."""
        for name in list(self._nes):
            if name not in targets or targets[name] != self._nes[name].target:
                self._stop(name, self._nes.pop(name))
        taken = sum(1 for name in targets if name not in self._nes and name in poll_now)
        spread = min(TAKEOVER_SPREAD, taken / TAKEOVER_RATE)
        for name, target in targets.items():
            if name not in self._nes:
                urgent = name in poll_now
                if urgent:
                    self._urgent.add(name)
                sched = self._new_schedule(target)
                task = asyncio.create_task(
                    self._loop(sched, target.ne, spread if urgent else None),
                    name=f"{self.task_prefix}:{name}",
                )
                task.add_done_callback(self._task_ended)
                sched.task = task
                self._nes[name] = sched

    async def close(self) -> None:
        scheds = list(self._nes.items())
        self._nes.clear()
        for name, s in scheds:
            self._stop(name, s)
        # Bounded: the tasks are cancelled, and the releases have deadlines of their own.
        while self._ending:
            await asyncio.gather(*list(self._ending), return_exceptions=True)

    def interval_of(self, ne: NetworkElement) -> float:
        return ne.poll_interval or self.config.interval

    def slot(self, name: str) -> asyncio.Semaphore:
        """The concurrency bound this poll of ``name`` waits for: the takeover lane for the
        first poll of an NE taken over, the routine one after."""
        if name in self._urgent:
            self._urgent.discard(name)
            return self._takeover_sem
        return self._sem

    def _stop(self, name: str, sched: S) -> None:
        self._urgent.discard(name)
        if sched.task is not None:
            sched.task.cancel()
            self._keep(sched.task)
        self._crashes.pop(name, None)
        release = self._released(sched)
        if release is not None:
            self._keep(asyncio.ensure_future(release))

    def _keep(self, task: asyncio.Future[None]) -> None:
        """Hold a reference until the task has ended (close() waits for these)."""
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _loop(self, sched: S, ne: NetworkElement, takeover: float | None) -> None:
        await every(
            ne.name,
            self.interval_of(ne),
            lambda: self.poll_supervised(sched),
            self._skipped,
            takeover=takeover,
        )

    async def poll_supervised(self, sched: S) -> None:
        """poll_once, with an unexpected exception turned into a logged, counted, visible
        failure of this one poll (cancellation still propagates)."""
        name = sched.target.ne.name
        if self.gate is not None and not await self._gate_within(name, sched.target.ne):
            self.stats["held"] += 1
            return
        started = time.monotonic()
        try:
            await self.poll_once(sched)
        except Exception as e:  # the point: whatever bug one NE's data hits
            self._crashed(name, e)
        else:
            self.latency.observe(time.monotonic() - started)
            st = self.model.states.get(name)
            if st is not None:
                st.problems.pop("poll", None)

    async def _gate_within(self, name: str, ne: NetworkElement) -> bool:
        """Ask the gate again while it holds the poll, for most of one interval: a poll
        held past the gate's own wait (a long doubt) goes as soon as the doubt ends instead
        of losing its slot, which would leave the NE unpolled for a whole interval more.
        A skip (None: cut off from the pool, whose table may have moved the NE) is final."""
        assert self.gate is not None
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.interval_of(ne) * HELD_SHARE
        while True:
            verdict = await self.gate(name)
            if verdict:
                return True
            if verdict is None or loop.time() + HELD_RETRY >= give_up:
                return False
            await asyncio.sleep(HELD_RETRY)

    def _crashed(self, name: str, e: Exception) -> None:
        self.stats["poll_crashes"] += 1
        crashes = self._crashes.setdefault(name, _Crashes())
        crashes.count += 1
        what = f"{type(e).__name__}: {e}"[:300]
        st = self.model.states.get(name)
        if st is not None:
            st.last_error = f"internal error while polling: {what}"
            st.problems["poll"] = (
                f"internal error while polling ({crashes.count} times), last: {what}"
            )
        now = time.monotonic()
        if crashes.count == 1:
            crashes.logged_at = now
            log.error("poll crashed; polling goes on", exc_info=e, extra={"ne": name})
        elif now - crashes.logged_at >= CRASH_LOG_EVERY:
            log.error(
                "poll crashed again (%d times since the last report, %d in all): %s",
                crashes.unlogged + 1,
                crashes.count,
                what,
                extra={"ne": name},
            )
            crashes.logged_at, crashes.unlogged = now, 0
        else:
            crashes.unlogged += 1

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        # A poll loop only ends by cancellation; anything else is a bug in the schedule
        # itself, which must not vanish silently either.
        if not task.cancelled() and task.exception() is not None:
            self.stats["poll_crashes"] += 1
            log.error("poll task %s ended", task.get_name(), exc_info=task.exception())

    def _skipped(self, slots: int) -> None:
        self.stats["skipped_slots"] += slots

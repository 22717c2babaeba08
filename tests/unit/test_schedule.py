"""The polling rhythm's rules (agent/schedule.py). The pollers' gate (the assignment
follower's doubt): a held poll asks again and goes as soon as the gate opens, within the
same slot; one held for most of an interval skips that slot, counted as held; a skip (cut
off) is final at once. The takeover lane: the first poll of an NE taken over does not wait
for a slot routine polls hold."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

from agent.schedule import FIRST_SPREAD, HELD_SHARE, TAKEOVER_SPREAD, Rhythm, ScheduledPoller, every
from shared.config import PollingConfig
from shared.model import NetworkElement
from shared.nodal import NodalModel


@dataclass(frozen=True)
class _Target:
    ne: NetworkElement


@dataclass
class _Sched:
    target: _Target
    task: asyncio.Task[None] | None = None


class _CountingPoller(ScheduledPoller[_Target, _Sched]):
    """Polls nothing: records when each poll ran."""

    def __init__(self, interval: float, concurrency: int = 200, takeover: int = 1000) -> None:
        config = PollingConfig(interval, concurrency=concurrency, takeover_concurrency=takeover)
        super().__init__(NodalModel("a1"), lambda events: None, config, time.time, {})
        self.ran: list[float] = []

    def _new_schedule(self, target: _Target) -> _Sched:
        return _Sched(target)

    async def poll_once(self, sched: _Sched) -> None:
        self.ran.append(time.monotonic())


def _gate_opening_after(asks: int) -> tuple[list[float], object]:
    seen: list[float] = []

    async def gate(name: str) -> bool:
        seen.append(time.monotonic())
        return len(seen) > asks

    return seen, gate


def test_a_refused_poll_goes_when_the_gate_opens_within_its_slot() -> None:
    async def run() -> tuple[_CountingPoller, list[float], float]:
        p = _CountingPoller(interval=60.0)
        seen, gate = _gate_opening_after(2)
        p.gate = gate  # type: ignore[assignment]
        started = time.monotonic()
        await p.poll_supervised(_Sched(_Target(NetworkElement("sw1", "127.0.0.1"))))
        return p, seen, started

    p, seen, started = asyncio.run(run())
    assert len(seen) == 3 and len(p.ran) == 1
    assert p.stats["held"] == 0
    # Asked again after a short wait, not at the next slot a minute later.
    assert p.ran[0] - started < 5.0


def test_a_poll_refused_for_most_of_its_interval_skips_the_slot_counted() -> None:
    interval = 2.0

    async def run() -> tuple[_CountingPoller, list[float], float, float]:
        p = _CountingPoller(interval=interval)
        seen, gate = _gate_opening_after(10**6)
        p.gate = gate  # type: ignore[assignment]
        started = time.monotonic()
        await p.poll_supervised(_Sched(_Target(NetworkElement("sw1", "127.0.0.1"))))
        return p, seen, started, time.monotonic()

    p, seen, started, ended = asyncio.run(run())
    assert p.ran == [] and p.stats["held"] == 1
    assert len(seen) >= 2  # asked again meanwhile
    assert ended - started <= interval * HELD_SHARE + 0.5


def test_a_skip_is_final_for_the_slot() -> None:
    asks: list[float] = []

    async def gate(name: str) -> bool | None:
        asks.append(time.monotonic())
        return None  # cut off from the pool

    async def run() -> _CountingPoller:
        p = _CountingPoller(interval=60.0)
        p.gate = gate
        await p.poll_supervised(_Sched(_Target(NetworkElement("sw1", "127.0.0.1"))))
        return p

    p = asyncio.run(run())
    assert len(asks) == 1 and p.ran == [] and p.stats["held"] == 1


class _SlotPoller(_CountingPoller):
    """Each poll holds its slot; the one of ``busy`` until ``release`` is set."""

    def __init__(self, release: asyncio.Event, concurrency: int, takeover: int) -> None:
        super().__init__(60.0, concurrency, takeover)
        self.release = release
        self.order: list[str] = []

    async def poll_once(self, sched: _Sched) -> None:
        name = sched.target.ne.name
        async with self.slot(name):
            self.order.append(name)
            if name == "busy":
                await self.release.wait()


def test_a_takeover_does_not_queue_behind_routine_polls() -> None:
    async def run() -> tuple[list[str], bool]:
        release = asyncio.Event()
        p = _SlotPoller(release, concurrency=1, takeover=4)
        busy = asyncio.create_task(
            p.poll_supervised(_Sched(_Target(NetworkElement("busy", "127.0.0.1"))))
        )
        await asyncio.sleep(0.05)  # "busy" holds the only routine slot
        orphan = _Target(NetworkElement("orphan", "127.0.0.2"))
        p.set_targets({"orphan": orphan}, poll_now={"orphan"})
        async with asyncio.timeout(5.0):
            while "orphan" not in p.order:
                await asyncio.sleep(0.05)
        later_routine = p.slot("orphan") is p.slot("busy")  # its next polls: routine lane
        release.set()
        await busy
        await p.close()
        return p.order, later_routine

    names, later_routine = asyncio.run(run())
    assert names == ["busy", "orphan"] and later_routine


def test_the_rhythm_spreads_a_fleet_over_the_interval_after_a_quick_first_poll() -> None:
    interval = 60.0
    for takeover, first_within in ((None, FIRST_SPREAD), (TAKEOVER_SPREAD, TAKEOVER_SPREAD)):
        plans = [Rhythm.of(f"ne{i:04d}", interval, takeover) for i in range(1000)]
        assert all(0 <= p.first < first_within for p in plans)
        # Six 10-s buckets of the interval: each holds about a sixth of the fleet.
        buckets = [0] * 6
        for p in plans:
            buckets[int(p.phase // 10)] += 1
        assert min(buckets) > 120 and max(buckets) < 220, buckets
        for p in plans:  # the rhythm's first slot: half an interval to 1.5 after the first
            gap = p.phase + p.first_slot * interval - p.first
            assert interval / 2 <= gap < 1.5 * interval


def test_polls_come_at_the_interval() -> None:
    times: list[float] = []

    async def run() -> None:
        async def poll() -> None:
            times.append(asyncio.get_running_loop().time())

        task = asyncio.create_task(every("sw1", 0.4, poll, lambda n: None))
        await asyncio.sleep(2.2)
        task.cancel()

    asyncio.run(run())
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]  # after the first poll
    assert len(times) >= 4 and all(0.3 < g < 0.6 for g in gaps), gaps

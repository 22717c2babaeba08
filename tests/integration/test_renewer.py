"""The master's lease renewer thread against a real SQLite pool database: it keeps the
lease while the loop is busy, stops when told, and stops renewing for a silent loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent import renewer as renewer_module
from agent.db import Database, migrate
from agent.pooldb import PoolDb
from agent.renewer import Renewer

pytestmark = pytest.mark.timeout(60)

TTL = 0.6


@pytest.fixture
def pool(tmp_path):
    url = f"sqlite:///{tmp_path}/pool.db"
    migrate(url)
    with Database.open(url) as db:
        yield PoolDb(db)


async def test_renews_while_the_loop_is_busy_and_stops_when_told(pool):
    epoch = pool.acquire_lease("a", TTL).epoch
    answers: list[tuple[int, float, bool | None]] = []
    r = Renewer(pool, "a", TTL, 0.1, asyncio.get_running_loop(), lambda *a: answers.append(a))
    r.start(epoch)
    try:
        time.sleep(1.5)  # the loop blocked: the thread renews all the same
        r.alive = time.monotonic()
        await asyncio.sleep(0.1)  # the queued answers run now
        assert len(answers) >= 5 and all(ok for _, _, ok in answers)
        assert pool.lease().holder == "a" and pool.lease().expires_in > 0
        assert not pool.acquire_lease("b", TTL).acquired
        r.stop()
        await asyncio.sleep(TTL + 0.3)
        assert pool.acquire_lease("b", TTL).acquired  # no renewal kept it for us
    finally:
        r.close()


async def test_a_silent_loop_gets_no_renewals(pool, monkeypatch):
    monkeypatch.setattr(renewer_module, "LOOP_SILENCE", 0.3)
    epoch = pool.acquire_lease("a", TTL).epoch
    r = Renewer(pool, "a", TTL, 0.1, asyncio.get_running_loop(), lambda *a: None)
    r.start(epoch)
    try:
        time.sleep(0.3 + TTL + 0.3)  # never a sign of life from the loop
        assert r.stats["skipped_silent_loop"] > 0
        assert pool.acquire_lease("b", TTL).acquired  # the lease ran out
    finally:
        r.close()

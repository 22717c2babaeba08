"""The pool's database rows (lease, members, assignment table) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from agent.db import Database
from agent.pooldb import PoolDb
from tests.helpers.pgdb import BACKENDS, empty_tables, migrated_database

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=BACKENDS)
def url(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory.mktemp("pool")) as u:
        yield u


@pytest.fixture
def pool(url):
    empty_tables(url)
    db = Database.open(url)
    yield PoolDb(db)
    db.close()


def test_lease_taken_once_renewed_by_its_holder_and_expires_by_database_time(pool):
    first = pool.acquire_lease("a1", ttl=0.6)
    assert first.acquired and first.epoch == 1
    other = pool.acquire_lease("a2", ttl=0.6)
    assert not other.acquired and other.holder == "a1" and 0 < other.expires_in <= 0.6
    assert pool.renew_lease("a1", 1, ttl=0.6)
    assert not pool.renew_lease("a2", 1, ttl=0.6)  # not the holder
    assert not pool.renew_lease("a1", 0, ttl=0.6)  # not the epoch
    time.sleep(0.8)
    assert not pool.renew_lease("a1", 1, ttl=0.6)  # ran out: no silent extension
    taken = pool.acquire_lease("a2", ttl=5)
    assert taken.acquired and taken.epoch == 2  # epochs only grow
    again = pool.acquire_lease("a2", ttl=5)
    assert again.acquired and again.epoch == 3  # a re-acquisition is a new epoch too
    pool.release_lease("a2", 3)
    assert pool.acquire_lease("a1", ttl=5).epoch == 4


def test_racing_agents_get_one_lease(pool):
    results = []
    barrier = threading.Barrier(6)

    def race(me: str) -> None:
        barrier.wait()
        results.append((me, pool.acquire_lease(me, ttl=5)))

    threads = [threading.Thread(target=race, args=(f"a{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    winners = [me for me, r in results if r.acquired]
    assert len(results) == 6 and len(winners) == 1
    assert all(r.holder == winners[0] for _, r in results)


def test_assignment_written_only_by_the_lease_holder(pool):
    lease = pool.acquire_lease("a1", ttl=5)
    v1 = pool.write_assignment("a1", lease.epoch, {"ne1": "a1", "ne2": "a2"})
    assert v1 == 1
    assert pool.write_assignment("a2", lease.epoch, {"ne1": "a2"}) is None  # fenced
    assert pool.write_assignment("a1", lease.epoch + 1, {"ne1": "a2"}) is None
    v2 = pool.write_assignment("a1", lease.epoch, {"ne1": "a2", "ne3": "a1"})
    table = pool.read_assignment()
    assert (table.epoch, table.version, v2) == (lease.epoch, 2, 2)
    assert table.owners == {"ne1": "a2", "ne3": "a1"}


def test_members_heartbeat_by_database_time(pool):
    pool.heartbeat("a1", priority=10, endpoint="tcp://127.0.0.1:1", state="starting")
    pool.heartbeat("a1", priority=10, endpoint="tcp://127.0.0.1:1", state="master", epoch=3)
    pool.heartbeat(
        "a2", priority=5, endpoint="tcp://127.0.0.1:2", state="follower", zones="dc1,dc2"
    )
    rows = {m.node_id: m for m in pool.members()}
    assert rows["a1"].state == "master" and rows["a1"].epoch == 3
    assert rows["a2"].zones == frozenset({"dc1", "dc2"}) and rows["a2"].age < 5
    assert rows["a1"].started <= rows["a1"].last_seen
    assert abs(pool.db_time() - time.time()) < 5
    assert pool.forget_member("a2") and [m.node_id for m in pool.members()] == ["a1"]

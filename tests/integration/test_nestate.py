"""NE state snapshots in real SQLite and PostgreSQL databases, written by the writer loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent.db import Database
from agent.nestate import SnapshotWriter, read_snapshots, write_snapshots
from shared.model import InterfaceState, NeState, OperStatus
from shared.snapshot import snapshot
from tests.helpers.pgdb import BACKENDS, empty_tables, migrated_database

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=BACKENDS)
def url(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory.mktemp("nestate")) as u:
        yield u


@pytest.fixture
def db(url):
    empty_tables(url)
    d = Database.open(url)
    yield d
    d.close()


def state(name: str, up: bool = True) -> NeState:
    st = NeState(name, reachable=True, last_poll=time.time(), polls=1, revision=1)
    st.interfaces = {
        1: InterfaceState(1, "ge-0/0/1", oper_status=OperStatus.UP if up else OperStatus.DOWN)
    }
    return st


def test_snapshots_replace_per_ne_and_read_back(db):
    write_snapshots(db, [snapshot(state("sw1"), "a1", 1.0), snapshot(state("sw2"), "a1", 1.0)])
    write_snapshots(db, [snapshot(state("sw1", up=False), "a2", 2.0)])  # moved to a2
    got = read_snapshots(db)
    assert set(got) == {"sw1", "sw2"}
    assert got["sw1"]["owner"] == "a2" and got["sw1"]["interfaces"][0]["status"] == "down"
    assert read_snapshots(db, ["sw2"])["sw2"]["owner"] == "a1"
    assert read_snapshots(db, ["nobody"]) == {}


async def test_writer_loop_writes_the_first_snapshot_and_a_status_change(db):
    states = {"sw1": state("sw1")}
    writer = SnapshotWriter(db, "a1", lambda: states.values(), every=30.0, tick=0.05)
    task = asyncio.create_task(writer.run())
    try:

        async def until(probe, timeout=10.0):
            end = time.monotonic() + timeout
            while not probe():
                assert time.monotonic() < end, "timed out"
                await asyncio.sleep(0.05)

        await until(lambda: "sw1" in read_snapshots(db))
        nxt = state("sw1", up=False)
        nxt.polls = nxt.revision = 2
        states["sw1"] = nxt
        await until(lambda: read_snapshots(db)["sw1"]["interfaces"][0]["status"] == "down")
        assert writer.stats["written"] == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

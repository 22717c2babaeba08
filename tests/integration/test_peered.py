"""The peered service over a real bus, from real SQLite and PostgreSQL databases: the same
answer from any agent, and never a secret."""

from __future__ import annotations

import asyncio
import json

import pytest
import zmq.asyncio

from agent.bus import Bus
from agent.db import Database
from agent.nestate import write_snapshots
from agent.peered import Peered
from agent.peers import PeerError, Peers
from agent.pooldb import PoolDb
from shared.model import NeState
from shared.snapshot import snapshot
from tests.helpers.pgdb import BACKENDS, empty_tables, migrated_database
from tests.integration.test_cli import INVENTORY

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=BACKENDS)
def url(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory.mktemp("peered")) as u:
        yield u


@pytest.fixture
def db(url):
    empty_tables(url)
    d = Database.open(url)
    d.import_inventory(INVENTORY)
    pool = PoolDb(d)
    pool.heartbeat(
        "a1",
        priority=2,
        endpoint="tcp://127.0.0.1:1",
        state="master",
        managed=1,
        health=json.dumps({"snmp_polls": 3, "snmp_failures": 0}),
    )
    pool.heartbeat("a2", priority=1, endpoint="tcp://127.0.0.1:2", state="follower", managed=1)
    lease = pool.acquire_lease("a1", 30.0)
    pool.write_assignment("a1", lease.epoch, {"rtr1": "a1", "sw1": "a2"})
    write_snapshots(
        d, [snapshot(NeState("rtr1", reachable=False, last_error="timeout", polls=2), "a1", 5.0)]
    )
    yield d
    d.close()


async def test_two_agents_give_the_same_answers_and_no_secrets(db, url):
    other = Database.open(url)  # a second agent's own connection to the same database
    buses = [Bus("tcp://127.0.0.1:0", "tcp://127.0.0.1:0") for _ in range(2)]
    for b in buses:
        b.bind()
    Peered(lambda: db).route(buses[0])
    Peered(lambda: other).route(buses[1])
    tasks = [asyncio.create_task(b.serve()) for b in buses]
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "client")
    try:
        await peers.update({"x": buses[0].router_endpoint, "y": buses[1].router_endpoint})

        async def both(op: str, args: dict | None = None) -> dict:
            x = await peers.request("x", op, args or {}, timeout=10)
            y = await peers.request("y", op, args or {}, timeout=10)
            for r in (x, y):
                if isinstance(r, dict):
                    r.pop("fetched", None)
                    for m in r.get("members", []):
                        m.pop("age", None)
                    for m in r.get("agents", []):
                        m.pop("age", None)
            assert x == y, f"{op}: agents disagree"
            return x

        inv = await both("db.inventory")
        by = {n["name"]: n for n in inv["items"]}
        assert by["rtr1"]["owner"] == "a1" and by["sw1"]["owner"] == "a2"
        assert by["rtr1"]["stored_state"]["reachable"] is False
        assert by["sw1"]["stored_state"] is None
        assert [n["name"] for n in (await both("db.inventory", {"ne": "sw1"}))["items"]] == ["sw1"]
        assert inv["next"] is None
        # Keyset pages by name: one NE each, the cursor naming the last one of the page.
        first = await both("db.inventory", {"limit": 1})
        assert [n["name"] for n in first["items"]] == ["rtr1"] and first["next"] == "rtr1"
        second = await both("db.inventory", {"limit": 1, "after": first["next"]})
        assert [n["name"] for n in second["items"]] == ["sw1"] and second["next"] is None
        assert second["items"][0]["owner"] == "a2"

        pool = await both("db.pool")
        assert pool["master"] == "a1" and {m["node_id"] for m in pool["members"]} == {"a1", "a2"}

        profiles = await both("db.profiles")
        assert {p["name"] for p in profiles} == {"v2", "v3"}
        assert "s3cret" not in json.dumps(profiles)

        table = await both("db.assignment")
        assert table["owners"] == {"rtr1": "a1", "sw1": "a2"} and table["version"] >= 1

        topo = await both("db.topology")
        assert topo["source"] == "database" and len(topo["links"]) == 1
        assert {n["name"]: n["owner"] for n in topo["nes"]} == {"rtr1": "a1", "sw1": "a2"}

        states = await both("db.ne_state", {"ne": ["rtr1"]})
        assert states["items"]["rtr1"]["last_error"] == "timeout"
        with pytest.raises(PeerError, match="ne"):
            await peers.request("x", "db.inventory", {"ne": 3}, timeout=10)
        with pytest.raises(PeerError, match="limit"):
            await peers.request("x", "db.inventory", {"limit": 0}, timeout=10)
    finally:
        await peers.aclose()
        ctx.term()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for b in buses:
            await b.aclose()
        other.close()

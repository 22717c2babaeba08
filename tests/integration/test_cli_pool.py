"""`emspool pool` and `pool forget` against a real database written the way agents do."""

from __future__ import annotations

import json

from sqlalchemy import update

from agent.db import Database, migrate
from agent.pooldb import PoolDb
from shared.schema import agents
from tests.integration.test_cli import emspool


def make_pool(url: str) -> None:
    migrate(url)
    db = Database.open(url)
    try:
        pool = PoolDb(db)
        health = json.dumps(
            {"snmp_polls": 40, "snmp_failures": 1, "netconf_polls": 2, "netconf_failures": 0}
        )
        pool.heartbeat(
            "a1",
            priority=300,
            endpoint="tcp://127.0.0.1:7700",
            state="master",
            epoch=4,
            managed=2,
            health=health,
            version="0.9",
            zones="dc1",
        )
        pool.heartbeat(
            "a2",
            priority=200,
            endpoint="tcp://127.0.0.1:7710",
            state="follower",
            epoch=4,
            managed=1,
            health="not json",
        )
        pool.heartbeat("gone", priority=100, endpoint="tcp://127.0.0.1:7720", state="follower")
        with db.transaction("ageing a row") as conn:
            conn.execute(update(agents).where(agents.c.node_id == "gone").values(last_seen=0))
        lease = pool.acquire_lease("a1", 30.0)
        assert lease.acquired
        assert pool.write_assignment("a1", lease.epoch, {"n1": "a1", "n2": "a1", "n3": "a2"})
    finally:
        db.close()


def test_pool_lists_members_with_their_state_and_load(tmp_path):
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    make_pool(url)
    data = json.loads(emspool(url, "--json", "pool", "--direct").stdout)
    by = {m["node_id"]: m for m in data["members"]}
    assert data["master"] == "a1" and data["assignment"]["nes"] == 3
    assert by["a1"]["state"] == "master" and by["a1"]["assigned"] == 2
    assert by["a1"]["health"]["snmp_polls"] == 40
    assert by["a2"]["state"] == "follower" and by["a2"]["health"] == {}
    assert by["gone"]["state"] == "dead"
    text = emspool(url, "pool", "--direct").stdout
    assert "master a1, epoch" in text
    assert "41/42" in text and "dead" in text


def test_pool_with_no_agent_answering_reads_the_database_and_says_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    make_pool(url)
    done = emspool(url, "--timeout", "0.5", "--json", "pool")
    assert "read directly" in done.stderr
    data = json.loads(done.stdout)
    assert data["master"] == "a1" and {m["node_id"] for m in data["members"]} == {
        "a1",
        "a2",
        "gone",
    }


def test_pool_forget_removes_only_dead_members(tmp_path):
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    make_pool(url)
    refused = emspool(url, "pool", "forget", "a2", ok=False)
    assert refused.returncode == 1 and "alive" in refused.stdout
    assert "forgot agent gone" in emspool(url, "pool", "forget", "gone").stdout
    assert emspool(url, "pool", "forget", "nobody", ok=False).returncode == 1
    left = {m["node_id"] for m in json.loads(emspool(url, "--json", "pool").stdout)["members"]}
    assert left == {"a1", "a2"}

"""One real agent in a network namespace of the test's own, on PostgreSQL through a proxy on
its database link, its lab on the namespace's loopback: it serves over the bridge, and a
database outage (the proxy cut) loses no event: the outbox keeps them until it returns."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import create_engine, select

from agent.db import Database, migrate
from agent.keys import read_key_file
from lab.fleet import Lab
from lab.harness import bus_key
from shared.schema import event_log
from tests.helpers.eventtap import EventTap
from tests.helpers.netns import NetLab
from tests.helpers.nsagent import log_tail, prepare_agent, start_agent, start_lab_in
from tests.helpers.pgdb import temp_pg_database
from tests.helpers.poolview import request
from tests.helpers.waiting import random_base, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]


def logged(url: str) -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(event_log))]
    finally:
        engine.dispose()


def test_agent_in_namespace_survives_the_database_proxy_cut(tmp_path):
    with temp_pg_database() as url, NetLab(["a"]) as net:
        lab = Lab.create(tmp_path / "lab", count=2, base_address=random_base(), port=16100)
        try:
            migrate(url)
            with Database.open(url) as db:
                db.import_inventory(json.loads(lab.inventory_path.read_text()))
            start_lab_in(net, "a", lab)
            key = bus_key(url, tmp_path)  # an operator's key, made as `emspool keys create` does
            agent = prepare_agent(net, "a", tmp_path, url, 1.0, key)
            with EventTap([(agent.pub, agent.bus.server_key)], read_key_file(key)) as tap:
                proc = start_agent(net, agent)
                try:
                    _exercise(lab, agent, proc, url, tap)
                except BaseException:
                    print(log_tail(agent))
                    raise
        finally:
            lab.stop()


def _exercise(lab, agent, proc, url, tap) -> None:
    def status():
        if proc.poll() is not None:
            raise AssertionError(f"agent exited with {proc.returncode}")
        return request(agent.bus, "status", timeout=1.0)

    st = wait_until(status, 60, 0.5, "the agent's status over the bridge")
    assert st["node_id"] == "a"
    assert agent.proxy.connections >= 1  # its database really is behind our proxy

    def polled():
        states = request(agent.bus, "ne_states") or []
        return all(s["reachable"] for s in states) and len(states) == 2

    wait_until(polled, 60, 0.5, "both lab NEs polled from the namespace")
    ne = lab.devices[0].name

    agent.proxy.cut()
    lab.if_down(ne, 3)

    def raised():
        return [
            a
            for a in request(agent.bus, "alarms", {"ne": ne}) or []
            if a["type"] == "link-down" and a["obj"] == "ifIndex=3"
        ]

    wait_until(raised, 30, 0.5, "link-down raised while the database is down")
    outbox = wait_until(
        lambda: (o := status()["outbox"])["pending"] > 0 and o["db_down"] and o,
        30,
        0.5,
        "the event kept in the outbox",
    )
    assert outbox["db_failures"] >= 1
    down_ids = {e["id"] for e in tap.events if e["ne"] == ne and e["obj"] == "ifIndex=3"}
    assert down_ids
    assert not down_ids & {r["id"] for r in logged(url)}  # it really did not get through

    agent.proxy.restore()
    wait_until(lambda: status()["outbox"]["pending"] == 0, 60, 0.5, "outbox drained")
    rows = logged(url)
    ids = {r["id"] for r in rows}
    emitted = tap.events
    assert {e["id"] for e in emitted} <= ids  # nothing the agent emitted was lost
    raises = Counter(
        (r["ne"], r["obj"], r["type"]) for r in rows if r["ne"] == ne and r["obj"] == "ifIndex=3"
    )
    assert all(n == 1 for n in raises.values()), raises  # and nothing written twice
    assert status()["outbox"]["db_down"] is False

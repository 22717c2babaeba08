"""The CLI's queries through a random agent of a real pool (issue 13): `emspool events`
(peered ``events.search``/``events.counts``, keyset pages) and `emspool links` (peered
``db.links``) answer what the database holds, through whichever agent, and with every agent
stopped they fail rather than read the database; `emspool whoami` names the key and its
role for every role. ``pool.ne_states`` in pages: a small page size walks several pages
and puts back every live NE state (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.db import Database
from lab.fleet import Lab
from lab.harness import AgentPool, client_for
from shared.eventquery import EventQuery
from shared.model import Event, EventType, Severity
from tests.helpers.poollab import all_placed, lab_fixture, module_pool_fixture
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

lab = lab_fixture("clilab", 9)
pool = module_pool_fixture()  # the last test stops its agents

T0 = 1_600_000_000.0  # long before anything the agents write


def cli(pool: AgentPool, *argv: str, user: str = "operator", agent: str | None = None):
    pin = ("--agent", agent) if agent else ()
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "--db", pool.db_url, "--key",
         str(pool._keys[user]), *pin, "--timeout", "5", *argv],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def cli_json(pool: AgentPool, *argv: str, **kw: str) -> object:
    out = cli(pool, "--json", *argv, **kw)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def seed_events(url: str) -> None:
    with Database.open(url) as db:
        db.insert_events(
            [
                Event(T0 + i, f"cli-ne{i % 2}", EventType.TRAP, Severity(i % 6), f"fan {i}", "a1")
                for i in range(30)
            ]
        )


def test_whoami_names_the_key_and_its_role_for_every_role(lab: Lab, pool: AgentPool):
    pool.user("vic", "viewer")  # allowed within the agents' allow-list refresh
    for user, role in (("operator", "operator"), ("carol", "operator"), ("vic", "viewer")):
        for node in ("p1", "p3"):

            def answered(user: str = user, node: str = node) -> dict | None:
                out = cli(pool, "--json", "whoami", user=user, agent=node)
                return json.loads(out.stdout) if out.returncode == 0 else None

            got = wait_until(answered, 15, 0.5, f"whoami as {user} on {node}")
            assert got == {"name": user, "role": role, "authenticated": True, "node_id": node}
    text = cli(pool, "whoami", user="vic", agent="p2")
    assert text.stdout.strip() == "vic (viewer), authenticated by agent p2", text.stderr
    member = pool.request("p2", "whoami", user="member")
    assert (member["name"], member["role"]) == ("member", "agent")
    # A viewer may ask who it is, but still not acknowledge.
    refused = cli(pool, "ack", "cli-ne0", "x", user="vic")
    assert refused.returncode == 1 and "forbidden" in refused.stderr


def test_ne_states_in_pages_put_back_every_live_state(lab: Lab, pool: AgentPool, tmp_path: Path):
    from agent.alarmpages import fetch_ne_states

    pool.wait_for_master(60)
    owners = all_placed(lab, pool, set(pool.agents))
    client = client_for(pool.db_url, pool._keys["operator"], "p2", timeout=10.0)
    try:
        whole = fetch_ne_states(client, limit=2)
        first = client.request("pool.ne_states", {"limit": 2})
    finally:
        client.close()
    assert whole["pages"] >= 5 and not whole["partial"], whole["pages"]
    assert sorted(whole["answered"]) == sorted(pool.agents)
    names = [s["name"] for s in whole["items"]]
    assert names == sorted(names) and len(names) == len(set(names)) == len(owners)
    assert {s["name"]: s["agent"] for s in whole["items"]} == owners
    assert whole["total"] == len(owners)
    by_agent = {n: {s["name"] for s in pool.request(n, "ne_states")} for n in pool.agents}
    assert {s["name"] for s in whole["items"] if s["agent"] == "p1"} == by_agent["p1"]
    assert len(first["items"]) == 2 and first["next"]


def test_events_and_links_come_from_any_agent_as_the_database_has_them(lab: Lab, pool: AgentPool):
    pool.wait_for_master(60)
    seed_events(pool.db_url)
    nodes = sorted(pool.agents)

    # Pages with a cursor, through a pinned agent each time: the same walk from any agent.
    first = cli_json(pool, "events", "--ne", "cli-ne1", "--oldest", "--limit", "10", agent="p1")
    assert [e["text"] for e in first["events"]] == [f"fan {i}" for i in range(1, 20, 2)]
    rest = cli_json(
        pool, "events", "--ne", "cli-ne1", "--oldest", "--limit", "10",
        "--cursor", first["next_cursor"], agent="p3",
    )  # fmt: skip
    assert [e["text"] for e in rest["events"]] == [f"fan {i}" for i in range(21, 30, 2)]
    assert rest["next_cursor"] is None
    query = EventQuery(nes=("cli-ne0", "cli-ne1"), min_severity=Severity.MAJOR, text="fan")
    with Database.open(pool.db_url) as db:
        want = db.search_events(query, limit=1000).to_dict()
        want_counts = db.event_counts(query).to_dict()
    for node in nodes:
        args = ("--ne", "cli-ne0", "--ne", "cli-ne1", "--min-severity", "major", "--text", "fan")
        assert cli_json(pool, "events", *args, "--limit", "1000", agent=node) == want
        assert cli_json(pool, "events", "--counts", *args, agent=node) == want_counts
    assert want_counts["total"] == 10
    table = cli(pool, "events", "--ne", "cli-ne1", "--limit", "3", "--since", str(T0 - 1))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "TIME" in lines[0] and "fan 29" in lines[1] and lines[-1].startswith("more: --cursor ")
    bad = cli(pool, "events", "--since", "yesterday")
    assert bad.returncode == 1 and "not a time" in bad.stderr

    # Links: what the database holds (the imported ones and those LLDP found meanwhile).
    def links_match() -> list[dict] | None:
        shown = cli_json(pool, "links")
        with Database.open(pool.db_url) as db:
            stored = db.list_links()
        got = [(d["a"], d["a_port"], d["b"], d["b_port"], d["source"]) for d in shown]
        return (
            shown
            if got == [(k.a_ne, k.a_port, k.b_ne, k.b_port, k.source) for k in stored]
            else None
        )

    shown = wait_until(links_match, 20, 0.5, "emspool links equal to the database's links")
    assert len(shown) >= len(lab.devices) and all(d["last_seen"] for d in shown)
    sources = {d["source"] for d in shown}
    for source in sources:
        only = cli_json(pool, "links", "--source", source, agent="p2")
        assert only and {d["source"] for d in only} == {source}
    assert cli_json(pool, "links", "--source", "no-such-source") == []
    text = cli(pool, "links")
    assert text.returncode == 0 and "NE A" in text.stdout.splitlines()[0]

    # With no agent running, the commands fail: they do not fall back to the database.
    for node in nodes:
        pool.stop(node)
    for argv in (("events",), ("links",), ("whoami",)):
        out = cli(pool, "--timeout", "0.5", *argv)
        assert out.returncode == 3 and "no answer" in out.stderr, (argv, out.stderr)

"""The peered event-log service: filters, keyset paging both ways, counts, on both backends."""

from __future__ import annotations

import pytest

from agent.db import Database
from shared.eventquery import Cursor, EventQuery, QueryError
from shared.model import Event, EventType, Severity
from tests.helpers.eventpages import all_pages
from tests.helpers.pgdb import BACKENDS, empty_tables, migrated_database
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

T0 = 1_800_000_000.0


@pytest.fixture(scope="module", params=BACKENDS)
def url(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory.mktemp("ev")) as u:
        yield u


@pytest.fixture
def db(url):
    empty_tables(url)
    database = Database.open(url)
    events = [
        Event(
            time=T0 + i // 2,  # pairs share a timestamp: the id breaks the tie
            ne=f"ne{i % 5}",
            type=EventType.ALARM_RAISED if i % 3 else EventType.TRAP,
            severity=Severity(i % 6),
            text=f"Interface ge-{i} is down (admin up)" if i % 4 else f"50% of {i} LOST",
            agent=f"a{i % 2}",
            alarm_type="link-down" if i % 3 else "",
        )
        for i in range(500)
    ]
    database.insert_events(events)
    yield database
    database.close()


@pytest.mark.parametrize("newest_first", [True, False])
def test_keyset_pages_visit_every_match_once_in_order(db, newest_first):
    q = EventQuery(nes=("ne1", "ne2"), min_severity=Severity.MINOR, newest_first=newest_first)
    rows = all_pages(db, q, limit=7)
    keys = [(e.time, e.id) for e in rows]
    assert keys == sorted(keys, reverse=newest_first)
    assert len(set(keys)) == len(keys)
    expected = {i for i in range(500) if i % 5 in (1, 2) and i % 6 >= Severity.MINOR}
    assert len(rows) == len(expected)


@pytest.mark.parametrize("newest_first", [True, False])
def test_a_page_merged_from_per_ne_pages_is_the_same_as_one_filtered_walk(db, newest_first):
    # Several NEs are read as one (ne, time) range each and merged: the same rows, in the
    # same order, as filtering the whole log; a name given twice does not double its rows.
    whole = all_pages(db, EventQuery(min_severity=Severity.MINOR, newest_first=newest_first), 9)
    expected = [e for e in whole if e.ne in ("ne0", "ne3", "ne4")]
    q = EventQuery(
        nes=("ne4", "ne0", "ne3", "ne0"), min_severity=Severity.MINOR, newest_first=newest_first
    )
    assert [e.id for e in all_pages(db, q, limit=9)] == [e.id for e in expected]
    assert len(expected) > 9 * 3


def test_filters_combine(db):
    q = EventQuery(
        since=T0 + 10,
        until=T0 + 100,
        types=(EventType.ALARM_RAISED,),
        alarm_types=("link-down",),
        agents=("a1",),
    )
    rows = all_pages(db, q, limit=1000)
    assert rows and all(
        T0 + 10 <= e.time < T0 + 100 and e.agent == "a1" and e.alarm_type == "link-down"
        for e in rows
    )


def test_text_is_a_case_insensitive_substring_with_wildcards_escaped(db):
    lost = all_pages(db, EventQuery(text="lost"), limit=1000)
    assert len(lost) == 125 and all("LOST" in e.text for e in lost)
    percent = all_pages(db, EventQuery(text="50%"), limit=1000)
    assert len(percent) == 125  # '%' is literal, not "anything"
    assert all_pages(db, EventQuery(text="_"), limit=1000) == []


def test_counts_by_severity_and_ne(db):
    c = db.event_counts(EventQuery(min_severity=Severity.MAJOR))
    assert c.total == sum(1 for i in range(500) if i % 6 >= Severity.MAJOR)
    assert set(c.by_severity) == {"major", "critical"}
    assert sum(c.by_ne.values()) == c.total and set(c.by_ne) == {f"ne{i}" for i in range(5)}


def test_bad_queries_and_cursors_are_clear_errors(db):
    with pytest.raises(QueryError, match="until is before since"):
        EventQuery(since=10, until=5)
    with pytest.raises(QueryError, match="unknown query field"):
        EventQuery.from_args({"sevrity": "major"})
    with pytest.raises(QueryError, match="min_severity"):
        EventQuery.from_args({"min_severity": "dire"})
    q = EventQuery()
    with pytest.raises(QueryError, match="cursor"):
        db.search_events(q, cursor="not-a-cursor")
    other = Cursor(T0, "x", newest_first=False).encode()
    with pytest.raises(QueryError, match="other order"):
        db.search_events(q, cursor=other)
    args = EventQuery.from_args({"ne": "ne1", "order": "oldest", "text": "ge-"})
    assert args.nes == ("ne1",) and not args.newest_first


def test_the_service_answers_over_the_bus_from_a_real_agent(tmp_path):
    from agent import busclient
    from lab.harness import (
        bus_key,
        client_for,
        sqlite_pool,
        start_agent,
        stop_process,
        wait_for_agent,
        write_agent_config,
    )

    url = sqlite_pool(tmp_path / "pool.db", {"profiles": [], "devices": []})
    with Database.open(url) as db:
        db.insert_events(
            [
                Event(T0 + i, "ne1", EventType.TRAP, Severity(i % 6), f"event {i}", "a0")
                for i in range(250)
            ]
        )
        assert db.text_index_lag() == 250  # written, not indexed yet
    router, _ = write_agent_config(tmp_path / "agent.toml", "ev-agent", tmp_path / "agent", url, 60)
    proc = start_agent(tmp_path / "agent.toml", tmp_path / "agent.log")
    client = client_for(url, bus_key(url, tmp_path), router)
    try:
        wait_for_agent(client, proc, 30)
        seen, cursor = [], None
        for _ in range(10):
            args = {"ne": "ne1", "types": ["trap"], "limit": 100, "order": "oldest"}
            page = client.request("events.search", args | {"cursor": cursor})
            seen += [e["text"] for e in page["events"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"event {i}" for i in range(250)]
        # The agent brings the events into SQLite's text index by itself (agent/runtime.py).
        with Database.open(url) as db:
            wait_until(lambda: db.text_index_lag() == 0, 30, what="the agent indexing event text")
        page = client.request("events.search", {"text": "EVENT 24", "order": "oldest"})
        assert [e["text"] for e in page["events"]] == ["event 24"] + [
            f"event {i}" for i in range(240, 250)
        ]
        counts = client.request("events.counts", {"ne": "ne1", "types": ["trap"]})
        assert counts["total"] == 250 and counts["by_ne"] == {"ne1": 250}
        with pytest.raises(busclient.RequestFailed, match="min_severity"):
            client.request("events.search", {"min_severity": "dire"})
        with pytest.raises(busclient.RequestFailed, match="limit"):
            client.request("events.search", {"limit": 10**6})
    finally:
        client.close()
        stop_process(proc)

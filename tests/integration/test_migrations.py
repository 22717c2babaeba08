"""Schema migrations on real SQLite and PostgreSQL: from an empty database and from every
earlier release's schema (with data in it) to the newest; a newer schema is refused; and
`emspool db current | upgrade` say where a database stands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from agent.db import Database, migrate
from agent.dbengine import NewerSchema, current_revision, head_revision, known_revisions
from agent.textsearch import outside_model
from shared.eventquery import EventQuery
from shared.model import Event, EventType, Severity
from shared.schema import metadata
from tests.helpers.migrations import downgrade_to, upgrade_to

pytestmark = pytest.mark.timeout(120)

REVISIONS = sorted(known_revisions())


def assert_matches_model(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_name": outside_model}
            ctx = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("start", REVISIONS[:-1])
def test_upgrade_from_each_earlier_schema_keeps_the_data(empty_url, start):
    upgrade_to(empty_url, start)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:  # columns every schema since 0001 has
            conn.execute(
                text(
                    "INSERT INTO credential_profiles (name, version, community, created, updated) "
                    "VALUES ('p', '2c', 'c0mm', 0, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO network_elements (name, address, port, profile, kind, protocols, "
                    "created, updated) VALUES ('sw1', '127.0.0.9', 161, 'p', 'switch', 'snmp', 0, 0)"
                )
            )
    except Exception as e:  # pragma: no cover - says which schema lacked what
        pytest.fail(f"schema {start}: {e}")
    finally:
        engine.dispose()
    assert current_revision(empty_url) == start
    assert migrate(empty_url) == head_revision()
    assert_matches_model(empty_url)
    with Database.open(empty_url) as db:
        assert [n.name for n in db.list_nes()] == ["sw1"]
        assert db.get_profiles()["p"].community == "c0mm"


def _events(n: int, start: float, word: str) -> list[Event]:
    return [
        Event(
            start + i,
            f"ne{i % 3}",
            EventType.TRAP,
            Severity(i % 6),
            f"{word}-{i} on PORT {i % 7}",
            "a",
        )
        for i in range(n)
    ]


def test_upgrade_from_the_previous_schema_indexes_the_stored_events(empty_url):
    # The previous release's schema with events in it: the upgrade builds the text index from
    # them, later rows join it (SQLite: in indexing rounds), a downgrade takes it away cleanly.
    previous = REVISIONS[-2]
    upgrade_to(empty_url, previous)
    old = _events(300, 1_000.0, "Stored")
    with Database.open(empty_url) as db:
        db.insert_events(old)
        assert not db.has_text_index()
    assert migrate(empty_url) == head_revision()
    assert_matches_model(empty_url)
    new = _events(50, 5_000.0, "Fresh")
    with Database.open(empty_url) as db:
        assert db.has_text_index() and db.text_index_lag() == 0  # the stored rows are in it
        db.insert_events(new)
        for needle, rows in [("stored-1", old), ("FRESH-2", new), ("on port 3", old + new)]:
            expected = sorted(
                (e for e in rows if needle.lower() in e.text.lower()),
                key=lambda e: (e.time, e.id),
                reverse=True,
            )
            assert [e.id for e in db.search_events(EventQuery(text=needle), limit=500).events] == [
                e.id for e in expected
            ], needle
            assert db.event_counts(EventQuery(text=needle)).total == len(expected)
            db.index_event_text(20)  # the search is the same whatever is indexed so far
        assert db.text_index_lag() == 0
        if db.dialect == "sqlite":
            with db.transaction("checking the FTS index") as conn:  # raises when out of step
                conn.execute(
                    text(
                        "INSERT INTO event_log_fts (event_log_fts, rank) VALUES ('integrity-check', 1)"
                    )
                )
    downgrade_to(empty_url, previous)
    with Database.open(empty_url) as db:
        assert not db.has_text_index()
        db.insert_events(_events(5, 9_000.0, "After"))  # no trigger left behind
        assert db.search_events(EventQuery(text="after-4")).events[0].text == "After-4 on PORT 4"
    assert migrate(empty_url) == head_revision()


def test_empty_database_and_a_newer_schema(empty_url):
    assert migrate(empty_url) == head_revision()
    assert_matches_model(empty_url)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(NewerSchema, match="9999 is newer"):
        migrate(empty_url)
    assert current_revision(empty_url) == "9999"  # and it was left alone


def emspool(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "--db", url, "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_db_current_and_upgrade_commands(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/new/pool.db"
    out = emspool(url, "db", "current")
    assert out.returncode == 1 and json.loads(out.stdout)["state"] == "empty"
    assert not (tmp_path / "new" / "pool.db").exists()  # asking changes nothing
    out = emspool(url, "db", "upgrade")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) | {"database": ""} == {
        "database": "",
        "from": None,
        "to": head_revision(),
    }
    out = emspool(url, "db", "current")
    assert out.returncode == 0 and json.loads(out.stdout)["state"] == "current"
    upgrade_to(f"sqlite:///{tmp_path}/old.db", REVISIONS[-2])
    out = emspool(f"sqlite:///{tmp_path}/old.db", "db", "current")
    assert out.returncode == 1 and json.loads(out.stdout)["state"] == "behind"

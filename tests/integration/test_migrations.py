"""Schema migrations on real SQLite and PostgreSQL: from an empty database and from every
earlier release's schema (with data in it) to the newest; a newer schema is refused; and
`emspool db current | upgrade` say where a database stands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from agent.db import MIGRATIONS_DIR, Database, migrate
from agent.dbengine import NewerSchema, current_revision, head_revision, known_revisions
from agent.textsearch import outside_model
from shared.schema import metadata
from tests.helpers.migrations import upgrade_to
from tests.helpers.pgdb import BACKENDS, temp_pg_database

pytestmark = pytest.mark.timeout(120)

REVISIONS = sorted(known_revisions())


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/pool.db"
    else:
        with temp_pg_database() as url:
            yield url


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

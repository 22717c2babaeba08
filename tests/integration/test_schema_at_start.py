"""Schema changes only when asked: what an agent (and the CLI) does at start with an empty,
an older, a current and a newer database, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest

from agent.dbengine import (
    NewerSchema,
    SchemaBehind,
    current_revision,
    head_revision,
    known_revisions,
    migrate,
    prepare,
)
from tests.helpers.migrations import upgrade_to

pytestmark = pytest.mark.timeout(120)


def test_empty_database_gets_the_schema(empty_url):
    assert current_revision(empty_url) is None
    assert prepare(empty_url) == head_revision()
    assert current_revision(empty_url) == head_revision()
    assert prepare(empty_url) == head_revision()  # current: nothing to do


def test_older_schema_is_refused_and_left_alone_until_upgraded(empty_url):
    older = sorted(known_revisions() - {head_revision()})[-1]
    upgrade_to(empty_url, older)
    with pytest.raises(SchemaBehind, match="emspool db upgrade"):
        prepare(empty_url)
    assert current_revision(empty_url) == older  # not migrated behind the operator's back
    assert migrate(empty_url) == head_revision()  # what `emspool db upgrade` does
    assert prepare(empty_url) == head_revision()


def test_newer_schema_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    migrate(url)
    with sqlite3.connect(tmp_path / "newer.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(NewerSchema, match="9999 is newer"):
        prepare(url)


def test_agent_on_an_older_schema_refuses_to_start_and_says_what_to_run(tmp_path):
    import subprocess

    from tests.integration.test_agent_lifecycle import agent_cmd, ports, write_config

    config = write_config(tmp_path, **ports())
    url = f"sqlite:///{tmp_path / 'emspool.db'}"
    older = sorted(known_revisions() - {head_revision()})[-1]
    upgrade_to(url, older)
    out = subprocess.run(agent_cmd(config), capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"database schema {older} is older" in out.stderr
    assert "emspool db upgrade" in out.stderr and "Traceback" not in out.stderr + out.stdout
    assert current_revision(url) == older

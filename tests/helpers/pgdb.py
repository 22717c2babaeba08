"""Throw-away pool databases for tests: SQLite files, and PostgreSQL databases on the local
test server (127.0.0.1:5432); ``BACKENDS`` parametrises a fixture over both."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agent.db import migrate
from shared.schema import metadata

ADMIN_URL = os.environ.get(
    "EMSPOOL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a pool database at the newest schema: ``backend`` "sqlite" (a file in
    ``directory``, which need not exist yet) or "postgresql" (dropped afterwards)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory}/pool.db"
        migrate(url)
        yield url
    else:
        with temp_pg_database() as url:
            migrate(url)
            yield url


def empty_tables(url: str) -> None:
    """Delete every row, children first: each test starts from the bare schema."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()


@contextmanager
def temp_pg_database(prefix: str = "emspool_t") -> Iterator[str]:
    """Create a fresh database, yield its URL, drop it (even with sessions still open)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # no server: skip with the reason rather than fail
        admin.dispose()
        pytest.skip(f"PostgreSQL not available at {make_url(ADMIN_URL).host}: {type(e).__name__}")
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

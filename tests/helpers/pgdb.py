"""Throw-away PostgreSQL databases on the local test server (127.0.0.1:5432)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "EMSPOOL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


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

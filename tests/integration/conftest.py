"""Fixtures many integration modules share (a module's own fixture of the same name wins)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.snmp import SnmpClient
from tests.helpers.pgdb import BACKENDS, temp_pg_database


@pytest.fixture
async def client() -> AsyncIterator[SnmpClient]:
    """An SnmpClient with the defaults, closed after the test."""
    c = SnmpClient()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path):
    """An empty pool database: a SQLite file not made yet, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/pool.db"
    else:
        with temp_pg_database() as url:
            yield url

"""Fixtures many integration modules share (a module's own fixture of the same name wins)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.snmp import SnmpClient


@pytest.fixture
async def client() -> AsyncIterator[SnmpClient]:
    """An SnmpClient with the defaults, closed after the test."""
    c = SnmpClient()
    try:
        yield c
    finally:
        c.close()

"""The real lab and pool the pool-service tests share (tests/system/test_live_alarms.py,
test_pool_services.py, test_console.py): a ring of snmpsim devices on an address block of
its own, and the three agents of tests/system/test_pool.py on a fresh database. Each test
module wraps them in its own fixtures (a module-scoped lab; a pool per test or per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.fleet import Lab
from lab.harness import AgentPool, free_port
from tests.helpers.waiting import random_base


def ring_lab(factory: pytest.TempPathFactory, name: str, count: int = 9) -> Iterator[Lab]:
    root = factory.mktemp(name)
    lab = Lab.create(
        root / "lab", count=count, topology_kind="ring", base_address=random_base(),
        port=free_port(2),
    )  # fmt: skip
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def running_pool(lab: Lab, root: Path) -> Iterator[AgentPool]:
    from tests.system.test_pool import make_pool

    with make_pool(lab, root) as p:
        p.start_all()
        yield p

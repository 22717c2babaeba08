"""The 3-agent pool on the real lab that the system tests share: a ring lab for a module
(``running_lab``), the pool of NODES on a fresh SQLite database with that lab's inventory
(``make_pool``), the wait until every NE is placed on a live agent (``all_placed``), and the
fixtures a module takes them as::

    lab = lab_fixture("svclab", 9)  # one lab for the module
    pool = pool_fixture()  # a fresh pool on it for each test, started
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from lab.fleet import Lab
from lab.harness import AgentPool, free_port, sqlite_pool
from tests.helpers.waiting import random_base, wait_until

INTERVAL = 2.0
NODES = {"p1": 300, "p2": 200, "p3": 100}  # node id -> priority: p1 outranks p2 outranks p3


@contextlib.contextmanager
def running_lab(root: Path, count: int) -> Iterator[Lab]:
    """A ring of ``count`` simulated devices on a random loopback range, stopped after."""
    lab = Lab.create(
        root / "lab", count=count, topology_kind="ring", base_address=random_base(),
        port=free_port(2),
    )  # fmt: skip
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def make_pool(
    lab: Lab,
    root: Path,
    zone_agent: tuple[str, list[str]] | None = None,
    sections: Mapping[str, Mapping[str, Mapping[str, object]]] | None = None,
    **pool_settings: object,
) -> AgentPool:
    """The three agents of NODES on a fresh database with the lab's inventory (not started);
    ``zone_agent``: (node, zones) that one agent serves; ``sections``: node -> config
    sections of its own (e.g. ``{"p3": {"bus": {"max_message": 8192}}}``)."""
    url = sqlite_pool(root / "emspool.db", json.loads(lab.inventory_path.read_text()))
    pool = AgentPool(root / "agents", url, interval=INTERVAL, pool=pool_settings)
    pool.user("carol")  # the operator who acknowledges in the handover test
    for node, priority in NODES.items():
        own = dict((sections or {}).get(node, {}))
        if zone_agent is not None and zone_agent[0] == node:
            own["pool"] = {**pool_settings, "zones": zone_agent[1]}
        pool.add(node, priority=priority, **own)
    return pool


def all_placed(lab: Lab, pool: AgentPool, owners_among: set[str]) -> dict[str, str]:
    """Wait until every NE is in the table, owned by one of ``owners_among``, and every
    live agent manages exactly what the table gives it; returns the table's owners."""
    names = {d.name for d in lab.devices}

    def settled() -> dict[str, str] | None:
        table = pool.assignment()
        if set(table.owners) != names or not set(table.owners.values()) <= owners_among:
            return None
        for node in pool.live:
            if pool.managed(node) != {ne for ne, a in table.owners.items() if a == node}:
                return None
        return dict(table.owners)

    return wait_until(settled, 30, 0.2, "every NE placed on a live agent")


def lab_fixture(name: str, count: int) -> Callable[..., Any]:
    """A module-scoped ``lab`` fixture: ``count`` ring devices for the whole module."""

    @pytest.fixture(scope="module")
    def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
        with running_lab(tmp_path_factory.mktemp(name), count) as lab:
            yield lab

    return lab


def module_pool_fixture() -> Callable[..., Any]:
    """A module-scoped ``pool``: one pool of three for a module's tests that leave it as
    they found it (starting a pool is most of a short test's time). A test that stops its
    agents must come last in the module."""

    @pytest.fixture(scope="module")
    def pool(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentPool]:
        with make_pool(lab, tmp_path_factory.mktemp("pool")) as p:
            p.start_all()
            yield p

    return pool


def pool_fixture() -> Callable[..., Any]:
    """A ``pool`` fixture: the three agents of NODES started on the module's lab."""

    @pytest.fixture
    def pool(lab: Lab, tmp_path: Path) -> Iterator[AgentPool]:
        with make_pool(lab, tmp_path) as p:
            p.start_all()
            yield p

    return pool

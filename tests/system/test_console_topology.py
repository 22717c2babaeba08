"""The console's topology tab on a real 3-agent pool and the real lab: the database-sourced
picture (``db.topology``) and the memory-sourced one (``pool.ne_states`` + ``pool.health``)
agree on NEs, owners and LLDP links, and an NE whose device stops answering takes the
colour of its standing alarm's severity."""

from __future__ import annotations

import time

import pytest
from PySide6.QtGui import QColor

from agent.alarmpages import fetch_ne_states
from console.topoview import DIFFERENCES, TopologyWidget
from lab.fleet import Lab
from lab.harness import AgentPool
from shared.model import Severity
from shared.topology import SEVERITY_COLOURS, differences, from_database, from_memory
from shared.topology import worst_severities as worst_of
from tests.helpers.poollab import all_placed, lab_fixture, pool_fixture
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


lab = lab_fixture("topolab", 6)
pool = pool_fixture()


def test_database_and_memory_topologies_agree_and_alarms_colour_the_ne(
    qtbot, lab: Lab, pool: AgentPool
):
    pool.wait_for_master(60)
    owners = all_placed(lab, pool, set(pool.agents))
    via = sorted(pool.agents)[1]

    def fetch() -> tuple[dict, dict, dict]:
        topology = pool.request(via, "db.topology", timeout=5.0)
        # Every page of the NE states, as the console's feed reads them (pages of 2 here).
        states = fetch_ne_states(pool._clients[(via, "operator")], timeout=5.0, limit=2)
        assert states["pages"] >= 3
        return topology, states, pool.request(via, "pool.health", timeout=5.0)

    def agreed() -> tuple[dict, dict, dict] | None:
        # LLDP is polled, then the links table is synced every 10 s: wait for both.
        replies = fetch()
        db, mem = from_database(replies[0]), from_memory(replies[1], replies[2])
        if (
            mem.missing
            or not mem.links
            or differences(db, mem).summary() != ("the database and the agents' memory agree")
        ):
            return None
        return replies

    db_reply, states, health = wait_until(agreed, 60, 1.0, "both sources agreeing")
    db, mem = from_database(db_reply), from_memory(states, health)
    assert db.inventory() == mem.inventory() == {d.name for d in lab.devices}
    assert db.owners() == mem.owners() == owners
    assert {a.node: a.state for a in mem.agents.values()} == {
        a.node: a.state for a in db.agents.values()
    }

    widget = TopologyWidget()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.set_database(db_reply, via=via)
    widget.set_memory(states, health, via=via)
    widget.set_source(DIFFERENCES)
    assert widget.diff is not None and widget.diff.empty and not widget.scene.marks

    target = sorted(owners)[2]
    lab.unreachable(target)
    try:

        def alarmed() -> dict | None:
            items = pool.request(via, "pool.alarms", {"ne": target}, timeout=5.0)["items"]
            return worst_of(items) or None

        worst = wait_until(alarmed, 60, 0.5, f"{target}'s alarm in the pool's answer")
        assert worst[target] == Severity.CRITICAL  # "NE not answering" is critical
        widget.set_severities(worst)
        colour = widget.scene.nodes[target].brush().color()
        assert colour == QColor(SEVERITY_COLOURS[Severity.CRITICAL])
        others = {widget.scene.nodes[n].brush().color().name() for n in owners if n != target}
        assert SEVERITY_COLOURS[Severity.CRITICAL] not in others
        widget.search(target)
        assert "critical" in widget.details.toPlainText()
        assert time.time() - widget.database.fetched < 120  # the banner's time is the reply's
    finally:
        lab.reachable(target)

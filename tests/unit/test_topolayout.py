"""The topology layout (console/topolayout.py, igraph) and edge bundling, without Qt: NEs in
their group's disc, the same picture for the same graph, positions kept across refreshes
(only new NEs placed, next to their neighbours), an ownership move that moves no node, and
room between NEs at 5,000."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from console.topobundle import link_trunks, managed_trunks
from console.topolayout import BY_AGENT, BY_SITE, SPACING, Layout, layout
from lab.topogen import synthetic_pool
from shared.topology import Topology, agent_id, from_database
from tests.unit.test_layers import imports

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def big() -> Topology:
    return from_database(synthetic_pool().topology_reply())


@pytest.fixture(scope="module")
def small() -> Topology:
    return from_database(synthetic_pool(sites=6, per_site=40).topology_reply())


def dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def nearest(lay: Layout, names: list[str]) -> list[float]:
    """Each NE's distance to its nearest other NE (a grid of SPACING cells)."""
    cells: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for n in names:
        x, y = lay.positions[n]
        cells.setdefault((int(x // SPACING), int(y // SPACING)), []).append((x, y))
    out = []
    for n in names:
        p = lay.positions[n]
        cx, cy = int(p[0] // SPACING), int(p[1] // SPACING)
        near = [
            dist(p, q)
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
            for q in cells.get((cx + dx, cy + dy), ())
            if q != p
        ]
        out.append(min(near, default=SPACING))
    return out


def test_nes_sit_in_their_agents_disc_around_the_agent(small: Topology):
    lay = layout(small)
    assert set(lay.positions) == set(small.node_ids())
    assert set(lay.discs) == set(small.agents)
    for ne in small.nes.values():
        disc = lay.discs[ne.owner]
        assert dist(lay.positions[ne.name], (disc.x, disc.y)) <= disc.r + SPACING
    for node in small.agents:
        disc = lay.discs[node]
        assert lay.positions[agent_id(node)] == (disc.x, disc.y)
    discs = list(lay.discs.values())
    for i, a in enumerate(discs):  # the groups do not overlap
        for b in discs[i + 1 :]:
            assert dist((a.x, a.y), (b.x, b.y)) >= a.r + b.r


def test_grouping_by_site_puts_each_site_in_its_own_disc(small: Topology):
    lay = layout(small, group_by=BY_SITE)
    assert set(lay.discs) == {ne.site for ne in small.nes.values()}
    for ne in small.nes.values():
        disc = lay.discs[ne.site]
        assert dist(lay.positions[ne.name], (disc.x, disc.y)) <= disc.r + SPACING
    assert all(agent_id(a) in lay.positions for a in small.agents)


def test_the_same_graph_gives_the_same_picture(small: Topology):
    assert layout(small).positions == layout(small).positions


def test_a_refresh_keeps_every_position_and_places_only_new_nes(small: Topology):
    first = layout(small)
    reply = synthetic_pool(sites=6, per_site=40).topology_reply()
    anchor = sorted(small.inventory())[7]
    reply["nes"] += [{"name": f"new{i}", "owner": "p2", "zone": "site01"} for i in range(3)]
    # A chain new0 - new1 - new2 hanging off an existing NE, and one NE on another agent.
    reply["links"] += [
        {"a": anchor, "a_port": "x", "b": "new0", "b_port": "1", "source": "lldp"},
        {"a": "new0", "a_port": "2", "b": "new1", "b_port": "1", "source": "lldp"},
        {"a": "new1", "a_port": "2", "b": "new2", "b_port": "1", "source": "lldp"},
    ]
    moved = next(d for d in reply["nes"] if d["owner"] == "p1")
    moved["owner"] = "p3"
    again = layout(from_database(reply), first)
    assert again.placed_new == 3
    assert {n: again.positions[n] for n in first.positions} == first.positions
    # The chain grows from its anchor: each new NE near the one it hangs off.
    assert dist(again.positions["new0"], again.positions[anchor]) < 3 * SPACING
    assert dist(again.positions["new1"], again.positions["new0"]) < 3 * SPACING
    assert min(nearest(again, [*small.inventory(), "new0", "new1", "new2"])) >= 0.79 * SPACING


def test_a_new_agent_gets_a_disc_of_its_own_beside_the_others(small: Topology):
    first = layout(small)
    reply = synthetic_pool(sites=6, per_site=40).topology_reply()
    reply["agents"].append({"node_id": "p4", "state": "follower", "epoch": 3})
    reply["nes"] += [{"name": f"p4-ne{i}", "owner": "p4"} for i in range(5)]
    again = layout(from_database(reply), first)
    new = again.discs["p4"]
    assert all(dist((new.x, new.y), (d.x, d.y)) >= new.r + d.r for g, d in first.discs.items())
    assert {n: again.positions[n] for n in first.positions} == first.positions


def test_relayout_by_another_grouping_starts_afresh_and_back_again_is_the_same(small: Topology):
    by_agent = layout(small)
    by_site = layout(small, by_agent, group_by=BY_SITE)
    assert by_site.group_by == BY_SITE and by_site.placed_new == len(small.nes)
    assert layout(small, None, BY_AGENT).positions == by_agent.positions


def test_five_thousand_nes_have_room_between_them(big: Topology):
    lay = layout(big)
    assert len(big.nes) == 5000 and len(big.links) > 7500
    gaps = nearest(lay, sorted(big.nes))
    assert min(gaps) >= 0.79 * SPACING  # no two NEs on top of each other
    # Sites stay together inside a disc: most links inside a group are short.
    inside = [
        dist(lay.positions[k[0]], lay.positions[k[2]])
        for k in big.links
        if lay.group[k[0]] == lay.group[k[2]]
    ]
    disc = next(iter(lay.discs.values()))
    assert sorted(inside)[len(inside) // 2] < disc.r / 4


def test_bundles_stand_for_every_edge_and_a_lone_moved_ne_keeps_its_own(small: Topology):
    lay = layout(small)
    ne = sorted(n for n, v in small.nes.items() if v.owner == "p1")[0]
    moved = small.with_owners({ne: "p2"})
    trunks = managed_trunks(moved, "p2", lay.positions, lay.group)
    assert sum(t.count for t in trunks) == moved.agents["p2"].load
    own = [t for t in trunks if t.b == lay.positions[ne]]
    assert own and own[0].count == 1 and own[0].a == lay.positions[agent_id("p2")]
    outer = [k for k in small.links if lay.group[k[0]] != lay.group[k[2]]]
    assert sum(t.count for t in link_trunks(small, outer, lay.positions, lay.group)) == len(outer)


@pytest.mark.parametrize(
    "module", ["console/topolayout.py", "console/topobundle.py", "console/topodetails.py"]
)
def test_the_view_model_side_is_qt_free(module: str):
    assert not {n for n in imports(ROOT / module) if n.startswith("PySide6")}

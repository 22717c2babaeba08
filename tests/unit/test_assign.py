"""The assigner: rendezvous placement with weights, capacity, pins and zones (pure)."""

from __future__ import annotations

import pytest

from shared.assign import Member, Placement, assign

NES = [Placement(f"ne{i:04d}") for i in range(3000)]


def members(*names: str, **kw: object) -> list[Member]:
    return [Member(n, **kw) for n in names]  # type: ignore[arg-type]


def test_every_ne_placed_once_and_deterministically():
    a = assign(NES, members("a1", "a2", "a3"))
    b = assign(list(reversed(NES)), list(reversed(members("a1", "a2", "a3"))))
    assert a.owners == b.owners and not a.unplaced
    assert set(a.owners) == {p.ne for p in NES}
    load = a.load()
    assert all(800 < n < 1200 for n in load.values()), load


def test_a_leaving_agent_moves_only_its_own_nes():
    before = assign(NES, members("a1", "a2", "a3", "a4"))
    after = assign(NES, members("a1", "a2", "a4"))
    moved = after.moved(before.owners)
    assert moved == {ne for ne, o in before.owners.items() if o == "a3"}


def test_a_joining_agent_takes_about_one_nth():
    before = assign(NES, members("a1", "a2", "a3"))
    after = assign(NES, members("a1", "a2", "a3", "a4"))
    moved = after.moved(before.owners)
    assert all(after.owners[ne] == "a4" for ne in moved)  # nothing moves between old ones
    assert 0.20 < len(moved) / len(NES) < 0.30


def test_weights_scale_the_share():
    a = assign(NES, [Member("big", weight=3.0), Member("small", weight=1.0)])
    share = a.load()["big"] / len(NES)
    assert 0.70 < share < 0.80


def test_capacity_caps_and_overflow_goes_to_the_next_best():
    a = assign(NES, [Member("a1", capacity=500), Member("a2")])
    assert a.load() == {"a1": 500, "a2": 2500}
    full = assign(NES, [Member("a1", capacity=1000), Member("a2", capacity=1000)])
    assert len(full.owners) == 2000 and len(full.unplaced) == 1000
    assert set(full.unplaced.values()) == {"every eligible agent is at capacity"}


def test_zones_keep_nes_on_agents_that_reach_them():
    nes = [Placement(f"dc1-{i}", zone="dc1") for i in range(50)] + [
        Placement(f"any-{i}") for i in range(50)
    ]
    ms = [Member("a1", zones=frozenset({"dc1"})), Member("a2"), Member("a3")]
    a = assign(nes, ms)
    assert all(a.owners[f"dc1-{i}"] == "a1" for i in range(50))
    assert {a.owners[f"any-{i}"] for i in range(50)} == {"a1", "a2", "a3"}
    gone = assign(nes, ms[1:])
    assert gone.unplaced == {f"dc1-{i}": "no live agent serves zone 'dc1'" for i in range(50)}


def test_pins_win_while_the_pinned_agent_lives():
    nes = [Placement("core1", pin="a2"), *NES[:100]]
    a = assign(nes, members("a1", "a2", "a3"))
    assert a.owners["core1"] == "a2"
    b = assign(nes, members("a1", "a3"))
    assert b.owners["core1"] in {"a1", "a3"}
    # a pin to an agent outside the NE's zone is not honoured
    c = assign(
        [Placement("x", zone="z", pin="a1")], [Member("a1"), Member("a2", zones=frozenset({"z"}))]
    )
    assert c.owners == {"x": "a2"}


def test_no_members_places_nothing():
    a = assign(NES[:3], [])
    assert a.owners == {} and set(a.unplaced.values()) == {"no live agent"}


@pytest.mark.parametrize("n", [1, 2, 5])
def test_zero_weight_member_gets_nothing(n):
    a = assign(NES[:200], [Member("off", weight=0.0), *members(*[f"a{i}" for i in range(n)])])
    assert "off" not in a.load()

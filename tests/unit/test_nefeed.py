"""Live NE states and members, publishing side (shared/nefeed.py): material changes only,
each NE at most once a second, many NEs to a message; the master's member set."""

from __future__ import annotations

from shared.model import InterfaceState, NeState, NetworkElement, OperStatus
from shared.nefeed import MemberWatch, NeChanges, ne_messages
from shared.nodal import NodalModel


def ne(name: str = "sw1", up: bool = True, rate: float = 1e6, revision: int = 1) -> NeState:
    st = NeState(name, reachable=True, last_poll=10.0, sys_name=name, sys_uptime=500)
    st.interfaces = {
        1: InterfaceState(
            1, "ge-0/0/1", oper_status=OperStatus.UP if up else OperStatus.DOWN, in_bps=rate
        ),
        2: InterfaceState(2, "ge-0/0/2", oper_status=OperStatus.UP),
    }
    st.polls = st.revision = revision
    return st


def names(items: list[dict]) -> list[str]:
    return [str(d["name"]) for d in items]


def test_first_state_at_once_then_only_material_changes_at_most_once_a_second():
    c = NeChanges(every=1.0)
    first = c.due([ne()], "a1", 100.0)
    assert names(first) == ["sw1"] and first[0]["agent"] == "a1"
    assert first[0]["interfaces_down"] == 0 and first[0]["reachable"] is True
    assert c.due([ne(revision=1)], "a1", 102.0) == []  # nothing happened to it
    assert c.due([ne(revision=2, rate=9e6)], "a1", 103.0) == []  # rates only
    down = ne(revision=3, up=False)  # last told at 100.0: due at once
    assert c.due([down], "a1", 103.5)[0]["interfaces_down"] == 1


def test_a_change_within_the_second_waits_for_the_next_tick_and_is_not_lost():
    c = NeChanges(every=1.0)
    c.due([ne()], "a1", 100.0)
    down = ne(revision=2, up=False)
    assert c.due([down], "a1", 100.4) == []  # too soon after the first
    got = c.due([down], "a1", 101.0)
    assert names(got) == ["sw1"] and got[0]["interfaces_down"] == 1
    up = ne(revision=3, up=True)
    assert c.due([up], "a1", 101.2) == []
    assert names(c.due([up], "a1", 102.1)) == ["sw1"]


def test_unreachable_error_restart_and_name_are_material():
    c = NeChanges(every=1.0)
    c.due([ne()], "a1", 0.0)
    st = ne(revision=2)
    st.reachable, st.last_error = False, "timeout"
    assert c.due([st], "a1", 1.0)[0]["reachable"] is False
    st = ne(revision=3)
    st.sys_uptime = 10  # went back: the device restarted
    assert names(c.due([st], "a1", 2.0)) == ["sw1"]
    st = ne(revision=4)
    st.sys_uptime = 20
    assert c.due([st], "a1", 3.0) == []  # uptime growing is not news
    st = ne(revision=5)
    st.sys_name = "sw1-renamed"
    assert names(c.due([st], "a1", 4.0)) == ["sw1"]


def test_a_takeover_of_a_thousand_nes_is_two_messages():
    c = NeChanges(every=1.0)
    items = c.due([ne(f"ne{i:04d}") for i in range(1000)], "a2", 50.0)
    bodies = ne_messages(items)
    assert len(items) == 1000 and len(bodies) == 2
    assert sum(len(b["nes"]) for b in bodies) == 1000
    assert c.due([ne(f"ne{i:04d}") for i in range(1000)], "a2", 51.0) == []


def test_released_nes_are_told_at_once_when_they_come_back():
    c = NeChanges(every=1.0)
    c.due([ne("a"), ne("b")], "a1", 0.0)
    c.keep_only(["a"])  # b moved away
    assert names(c.due([ne("a"), ne("b")], "a1", 0.1)) == ["b"]


def test_the_model_bumps_the_revision_on_polls_failures_and_traps():
    m = NodalModel("a1")
    m.add_ne("r1", NetworkElement("r1", "127.0.0.1"))
    st = m.states["r1"]
    m.poll_failed("r1", 1.0, "timeout")
    assert st.revision == 1
    m.link_change("r1", 3, False, 2.0)
    assert st.revision == 2


def test_the_master_tells_members_on_change_and_the_whole_set_for_a_new_term():
    w = MemberWatch()
    first = w.update("a1", 3, ["a1", "a2", "a3"])
    assert first == {
        "members": ["a1", "a2", "a3"], "joined": [], "left": [], "master": "a1", "epoch": 3
    }  # fmt: skip
    assert w.update("a1", 3, ["a3", "a2", "a1"]) is None
    gone = w.update("a1", 3, ["a1", "a2"])
    assert gone is not None and gone["left"] == ["a3"] and gone["joined"] == []
    back = w.update("a1", 3, ["a1", "a2", "a3"])
    assert back is not None and back["joined"] == ["a3"]
    w.reset()  # deposed
    again = w.update("a1", 5, ["a1", "a2", "a3"])
    assert again is not None and again["epoch"] == 5 and again["joined"] == []

"""NE state snapshots: written at once when an operator would notice, otherwise coalesced."""

from __future__ import annotations

from shared.model import InterfaceState, Neighbour, NeState, OperStatus
from shared.snapshot import Coalescer, snapshot


def ne(polls: int = 1, up: bool = True, rate: float = 1e6) -> NeState:
    st = NeState("sw1", reachable=True, last_poll=10.0, sys_name="sw1", sys_uptime=500)
    st.interfaces = {
        1: InterfaceState(
            1,
            "ge-0/0/1",
            oper_status=OperStatus.UP if up else OperStatus.DOWN,
            in_bps=rate,
            out_bps=rate / 2,
        ),
        2: InterfaceState(2, "ge-0/0/2", admin_up=False, oper_status=OperStatus.DOWN),
    }
    st.neighbours = [Neighbour("ge-0/0/1", "sw2", "ge-0/0/7")]
    st.polls = st.revision = polls
    return st


def write(c: Coalescer, states: list[NeState], now: float) -> list[dict]:
    snaps = c.due(states, "a1", now)
    c.written(snaps, {s.name: s.revision for s in states})
    return snaps


def test_snapshot_has_what_a_database_view_shows():
    s = snapshot(ne(), "a1", 12.0)
    assert s["owner"] == "a1" and s["reachable"] is True and s["sys_uptime"] == 500
    assert [i["status"] for i in s["interfaces"]] == ["up", "down"]
    assert s["interfaces"][0]["in_bps"] == 1e6
    assert s["neighbours"] == [
        {"local_port": "ge-0/0/1", "remote_name": "sw2", "remote_port": "ge-0/0/7"}
    ]


def test_first_write_at_once_rates_coalesced_status_changes_urgent():
    c = Coalescer(every=30.0, urgent_every=1.0)
    assert len(write(c, [ne(polls=1)], 100.0)) == 1
    assert write(c, [ne(polls=2, rate=2e6)], 101.0) == []  # only rates moved
    assert write(c, [ne(polls=3, up=False)], 101.5) != []  # a port went down
    assert write(c, [ne(polls=4, up=True)], 101.8) == []  # too soon again (urgent_every)
    assert write(c, [ne(polls=5, up=True)], 102.6) != []  # and then it is written
    assert write(c, [ne(polls=6, rate=3e6)], 120.0) == []
    late = write(c, [ne(polls=7, rate=3e6)], 133.0)  # rates refreshed after `every`
    assert late and late[0]["interfaces"][0]["in_bps"] == 3e6


def test_nothing_polled_nothing_written_until_every_and_forget_writes_at_once():
    c = Coalescer(every=30.0)
    write(c, [ne(polls=1)], 0.0)
    assert write(c, [ne(polls=1)], 10.0) == []
    assert write(c, [ne(polls=1)], 31.0) != []
    c.forget(["sw1"])
    assert write(c, [ne(polls=1)], 32.0) != []


def test_snapshot_carries_the_ports_seen_up_for_the_next_owner():
    st = ne()
    st.ever_up = {1, 7}
    assert snapshot(st, "a1", 1.0)["ever_up"] == [1, 7]


def test_an_urgent_change_held_by_urgent_every_is_written_without_another_change():
    c = Coalescer(every=30.0, urgent_every=1.0)
    write(c, [ne(polls=1)], 100.0)
    assert write(c, [ne(polls=2, up=False)], 100.5) == []  # urgent, but too soon
    assert write(c, [ne(polls=2, up=False)], 101.2) != []  # written with nothing new since


def test_an_ne_with_nothing_new_is_looked_at_once_per_change():
    c = Coalescer(every=30.0, urgent_every=1.0)
    write(c, [ne(polls=1)], 100.0)
    st = ne(polls=2, rate=2e6)  # rates only: nothing urgent
    assert write(c, [st], 101.0) == []
    st.reachable = False  # behind the model's back (no revision): not looked at again
    assert write(c, [st], 102.0) == []
    st.revision += 1  # as the model does on any change
    assert write(c, [st], 103.0) != []

"""The client's view of the pool's NE states and members (shared/neview.py) fed by real
sequencers and the real publishing side (shared/nefeed.py): it follows the live messages,
notices a lost one, and a resync with buffered replay ends exactly at the agents' state."""

from __future__ import annotations

from typing import Any

from shared.livefeed import Sequencer
from shared.model import InterfaceState, NeState, OperStatus
from shared.nefeed import MemberWatch, NeChanges, ne_item, ne_messages
from shared.neview import NeView
from shared.wire import Topic


class Agent:
    """One agent's publishing side: its NEs, its coalescer, its sequencer."""

    def __init__(self, node: str, names: list[str], run: str = "r1") -> None:
        self.node = node
        self.seq = Sequencer(node, run)
        self.changes = NeChanges(every=1.0)
        self.states = {n: NeState(n, reachable=True, sys_name=n, sys_uptime=100) for n in names}
        for st in self.states.values():
            st.interfaces = {1: InterfaceState(1, "p1", oper_status=OperStatus.UP)}
        self.watch = MemberWatch()

    def set(self, name: str, *, reachable: bool = True, port_up: bool = True) -> None:
        st = self.states[name]
        st.reachable = reachable
        st.last_error = None if reachable else "timeout"
        st.interfaces[1].oper_status = OperStatus.UP if port_up else OperStatus.DOWN
        st.revision += 1

    def tick(self, now: float) -> list[tuple[str, dict[str, Any]]]:
        items = self.changes.due(self.states.values(), self.node, now)
        return [self.out(Topic.NE, b) for b in ne_messages(items)]

    def out(self, topic: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        body.setdefault("agent", self.node)
        return topic, self.seq.stamp(body)

    def part(self) -> list[dict[str, Any]]:
        return [ne_item(st, self.node) for st in self.states.values()]


def ne_states(*agents: Agent) -> dict[str, Any]:
    items = sorted((i for a in agents for i in a.part()), key=lambda d: d["name"])
    return {"items": items, "answered": sorted(a.node for a in agents), "missing": {}}


def health(master: str, epoch: int, alive: list[str]) -> dict[str, Any]:
    e = {"role": "master", "master": master, "epoch": epoch, "alive": alive}
    return {"items": [{"node_id": master, "election": e}], "answered": [master, *alive]}


def feed(view: NeView, messages: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    return [view.on_event(t, b) for t, b in messages]


def test_follows_ne_changes_and_members_after_the_first_snapshot():
    a1, a2 = Agent("a1", ["r1", "r2"]), Agent("a2", ["r3"])
    view = NeView()
    view.begin_resync()
    feed(view, a1.tick(0.0) + a2.tick(0.0))  # first states, buffered
    view.apply_snapshot(ne_states(a1, a2), health("a1", 4, ["a2"]))
    assert view.members == ["a1", "a2"] and view.master == "a1" and view.epoch == 4
    assert view.resync_needed == ""
    a2.set("r3", reachable=False)
    seen = feed(view, a2.tick(1.0))
    assert [d["name"] for d in seen[0].nes] == ["r3"]
    assert view.nes["r3"]["reachable"] is False and view.nes["r3"]["agent"] == "a2"
    a1.set("r2", port_up=False)
    feed(view, a1.tick(1.0))
    assert view.nes["r2"]["interfaces_down"] == 1
    assert (
        view.summary() == NeView(nes={d["name"]: d for d in ne_states(a1, a2)["items"]}).summary()
    )
    left = feed(view, [a1.out(Topic.AGENT, a1.watch.update("a1", 4, ["a1"]) or {})])[0]
    assert left.left == ["a2"] and view.members == ["a1"]
    back = feed(view, [a1.out(Topic.AGENT, a1.watch.update("a1", 4, ["a1", "a2"]) or {})])[0]
    assert back.joined == ["a2"] and view.resync_needed == ""


def test_a_lost_message_asks_for_a_resync_which_ends_at_the_agents_state():
    a1 = Agent("a1", ["r1", "r2"])
    view = NeView()
    view.begin_resync()
    feed(view, a1.tick(0.0))
    view.apply_snapshot(ne_states(a1), health("a1", 1, []))
    a1.set("r1", reachable=False)
    a1.tick(1.0)  # lost on the way
    a1.set("r2", port_up=False)
    feed(view, a1.tick(2.0))
    assert view.resync_needed.startswith("missed events from a1")
    assert view.nes["r1"]["reachable"] is True  # the lost one is not in the view...
    view.begin_resync()
    a1.set("r1", reachable=True)  # changes while the snapshot is fetched
    during = a1.tick(3.0)
    snap = ne_states(a1)
    a1.set("r2", port_up=True)
    during += a1.tick(4.0)
    feed(view, during)
    view.apply_snapshot(snap, health("a1", 1, []))
    assert view.resync_needed == ""  # ...and after the resync the view is the agents'
    assert view.summary() == NeView(nes={d["name"]: d for d in ne_states(a1)["items"]}).summary()
    assert view.nes["r2"]["interfaces_down"] == 0


def test_a_restart_or_a_reattach_needs_a_resync_and_a_deposed_master_is_ignored():
    a1 = Agent("a1", ["r1"])
    view = NeView()
    view.apply_snapshot(ne_states(a1), health("a1", 7, []))
    feed(view, a1.tick(0.0))
    assert view.resync_needed == "first event from a1"
    view.apply_snapshot(ne_states(a1), health("a1", 7, []))
    old = Agent("a0", [])
    feed(view, [old.out(Topic.AGENT, {"members": ["a0"], "master": "a0", "epoch": 6})])
    assert view.members == ["a1"] and view.master == "a1"  # epoch 6 < 7
    view.resync_needed = ""
    reborn = Agent("a1", ["r1"], run="r2")
    feed(view, reborn.tick(5.0))
    assert view.resync_needed == "a1 restarted"
    view.apply_snapshot(ne_states(reborn), health("a1", 7, []))
    view.reattached()
    assert view.resync_needed == "reattached to another agent"


def test_an_ne_moved_away_is_dropped_by_its_old_owners_managed_message():
    a1, a2 = Agent("a1", ["r1", "r2"]), Agent("a2", [])
    view = NeView()
    view.apply_snapshot(ne_states(a1, a2))
    a2.states["r2"] = a1.states.pop("r2")
    feed(view, [a1.out(Topic.AGENT, {"managed": ["r1"]})])
    assert "r2" not in view.nes  # gone until its new owner tells it...
    feed(view, a2.tick(1.0))
    assert view.nes["r2"]["agent"] == "a2"  # ...which it does within a tick
    feed(view, [a1.out(Topic.AGENT, {"managed": ["r1"]})])
    assert view.nes["r2"]["agent"] == "a2"  # not a1's to drop any more

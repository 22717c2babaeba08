"""The client's alarm view against a simulated pool: real alarm stores (shared/alarms.py),
real sequencers (shared/livefeed.py), and a lossy, reordering-free delivery in between."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from shared.alarms import AlarmStore
from shared.alarmview import AlarmView, essence
from shared.livefeed import Sequencer, Verdict
from shared.model import AlarmKey, Severity

AGENTS = ("a1", "a2", "a3")
KEYS = [AlarmKey(f"ne{n}", f"if{i}", "link-down") for n in range(3) for i in range(2)]
SEVS = (Severity.MINOR, Severity.MAJOR, Severity.CRITICAL)


@dataclass
class Agent:
    node: str
    run: str = "r1"
    store: AlarmStore = field(default_factory=AlarmStore)
    seq: Sequencer = field(init=False)

    def __post_init__(self) -> None:
        self.seq = Sequencer(self.node, self.run)

    def restart(self, n: int) -> None:
        """A new process: a new run, its memory rebuilt (silently) as it was."""
        self.run = f"r{n}"
        self.seq = Sequencer(self.node, self.run)


class Pool:
    def __init__(self) -> None:
        self.agents = {n: Agent(n) for n in AGENTS}
        self.owners = {f"ne{n}": AGENTS[n % len(AGENTS)] for n in range(3)}
        self.now = 1000.0

    def owner(self, key: AlarmKey) -> Agent:
        return self.agents[self.owners[key.ne]]

    def move(self, ne: str, to: str) -> list[tuple[str, dict[str, Any]]]:
        """A handover: the old owner forgets the NE's alarms, the new one rebuilds them
        (from the event log), both without alarm events; the new owner says what it manages."""
        old = self.agents[self.owners[ne]]
        new = self.agents[to]
        if old is new:
            return []
        moved = old.store.for_ne(ne)
        old.store.drop_ne(ne)
        new.store.restore(moved)
        self.owners[ne] = to
        managed = sorted(n for n, a in self.owners.items() if a == to)
        return [("agent", new.seq.stamp({"managed": managed}))]

    def act(self, op: tuple[str, int, int]) -> list[tuple[str, dict[str, Any]]]:
        """One operator or NE action; the events the owning agent publishes."""
        kind, k, s = op
        self.now += 1.0
        key = KEYS[k % len(KEYS)]
        agent = self.owner(key)
        store = agent.store
        if kind == "raise":
            t = store.raise_(key, SEVS[s % 3], f"down {s}", self.now)
        elif kind == "clear":
            t = store.clear(key, self.now)
        elif kind == "ack":
            t = store.ack(key, f"user{s}", self.now)
        elif kind == "unack":
            t = store.unack(key, "op", self.now)
        elif kind == "note":
            t = store.note(key, f"user{s}", f"note {s}", self.now)
        elif kind == "expire":
            store.expire(self.now + 7200.0)  # forgets cleared ones without events
            t = None
        elif kind == "move":
            return self.move(key.ne, AGENTS[s % len(AGENTS)])
        else:  # "restart": memory kept as it was (rebuilt from the log), no events
            agent.restart(int(self.now))
            return [("agent", agent.seq.stamp({"role": "member"}))]
        if t is None:
            return []
        body = t.to_event(agent.node, self.now).to_dict()
        return [("event", agent.seq.stamp(body))]

    def snapshot(self) -> dict[str, Any]:
        items = [a.to_dict() | {"agent": ag.node} for ag in self.agents.values() for a in ag.store]
        return {"items": items, "answered": list(AGENTS), "missing": {}}

    def truth(self) -> dict[AlarmKey, tuple[str, str | None, int]]:
        return essence(self.snapshot()["items"])


OPS = st.tuples(
    st.sampled_from(
        ["raise", "raise", "clear", "ack", "unack", "note", "expire", "restart", "move"]
    ),
    st.integers(0, 20),
    st.integers(0, 20),
)
# What happens to each event on its way to the client: delivered, dropped, or the client
# reattaches to another agent just before it (the event itself is delivered).
FATE = st.sampled_from(["ok", "ok", "ok", "drop", "reattach"])


def resync(view: AlarmView, pool: Pool, during: list[tuple[str, int, int]], split: int) -> None:
    """Subscribe-buffer-snapshot-replay, with ``during[:split]`` happening before the agents
    answer (in the snapshot and buffered) and the rest after (buffered only)."""
    view.begin_resync()
    for op in during[:split]:
        for topic, body in pool.act(op):
            view.on_event(topic, body)
    reply = pool.snapshot()
    for op in during[split:]:
        for topic, body in pool.act(op):
            view.on_event(topic, body)
    view.apply_snapshot(reply)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(OPS, FATE), max_size=60),
    st.lists(OPS, max_size=15),
    st.integers(0, 15),
)
def test_after_any_drops_and_reattaches_a_resync_equals_the_agents(
    history: list[tuple[tuple[str, int, int], str]],
    during: list[tuple[str, int, int]],
    split: int,
) -> None:
    pool = Pool()
    view = AlarmView()
    resync(view, pool, [], 0)
    for op, fate in history:
        for topic, body in pool.act(op):
            if fate == "reattach":
                view.reattached()
            if fate != "drop":
                view.on_event(topic, body)
    resync(view, pool, during, min(split, len(during)))
    assert view.summary() == pool.truth()


@settings(max_examples=200, deadline=None)
@given(st.lists(OPS.filter(lambda o: o[0] not in ("restart", "move")), max_size=80))
def test_without_loss_the_events_alone_keep_the_view_current(
    history: list[tuple[str, int, int]],
) -> None:
    pool = Pool()
    view = AlarmView()
    resync(view, pool, [], 0)
    assert view.resync_needed == ""
    for op in history:
        for topic, body in pool.act(op):
            view.on_event(topic, body)
        assert view.summary() == pool.truth()
    assert view.resync_needed in ("", *(f"first event from {a}" for a in AGENTS))


@settings(max_examples=200, deadline=None)
@given(st.lists(OPS.filter(lambda o: o[0] == "raise"), min_size=2, max_size=30), st.data())
def test_a_dropped_event_is_noticed_at_the_next_one_from_that_origin(
    raises: list[tuple[str, int, int]], data: st.DataObject
) -> None:
    pool = Pool()
    view = AlarmView()
    resync(view, pool, [], 0)
    for ne in range(3):  # every origin heard from once (the "first event" resyncs done)
        for topic, body in pool.act(("clear", 2 * ne, 0)) or pool.act(("raise", 2 * ne, 0)):
            view.on_event(topic, body)
    view.resync_needed = ""
    delivered: list[tuple[str, dict[str, Any]]] = []
    for op in raises:
        delivered += pool.act(op)
    drop = data.draw(st.integers(0, len(delivered) - 1)) if delivered else 0
    dropped = delivered[drop][1] if delivered else None
    later_same_origin = dropped is not None and any(
        b["origin"] == dropped["origin"] for _, b in delivered[drop + 1 :]
    )
    verdicts = [view.on_event(t, b) for i, (t, b) in enumerate(delivered) if i != drop]
    if later_same_origin:
        assert Verdict.GAP in verdicts
        assert view.resync_needed == f"missed events from {dropped['origin']}"
    else:
        assert view.resync_needed == ""  # nothing tells it yet: the safety-net resync will


def test_a_resync_is_needed_until_the_first_snapshot() -> None:
    view = AlarmView()
    assert view.resync_needed
    view.begin_resync()
    view.apply_snapshot({"items": [], "answered": ["a1"], "missing": {"a2": "dead"}})
    assert view.resync_needed == ""
    assert view.partial and view.missing == {"a2": "dead"}


def test_reattach_malformed_restart_and_reassignment_each_ask_for_a_resync() -> None:
    pool = Pool()
    view = AlarmView()
    resync(view, pool, [], 0)
    for topic, body in pool.act(("raise", 0, 0)) + pool.act(("raise", 1, 0)):
        view.on_event(topic, body)
    view.resync_needed = ""  # the "first event" ones
    view.reattached()
    assert view.resync_needed == "reattached to another agent"
    resync(view, pool, [], 0)
    for topic, body in pool.act(("clear", 0, 0)):
        assert view.on_event(topic, body) is Verdict.FIRST
    assert view.resync_needed == "first event from a1"
    resync(view, pool, [], 0)

    view.on_event("event", {"type": "alarm-raised", "ne": "x"})
    assert view.resync_needed.startswith("malformed event")
    resync(view, pool, [], 0)

    for topic, body in pool.act(("restart", 0, 0)):
        assert view.on_event(topic, body) is Verdict.RESTARTED
    assert view.resync_needed == "a1 restarted"
    resync(view, pool, [], 0)

    a2 = pool.agents["a2"]
    view.on_event("agent", a2.seq.stamp({"role": "member"}))
    resync(view, pool, [], 0)
    view.on_event("agent", a2.seq.stamp({"managed": ["ne1"]}))
    assert view.resync_needed == "a2 now manages other NEs"


def test_a_gap_while_buffering_asks_for_another_resync_after_this_one() -> None:
    pool = Pool()
    view = AlarmView()
    resync(view, pool, [], 0)
    events = pool.act(("raise", 0, 0)) + pool.act(("raise", 3, 0)) + pool.act(("raise", 0, 1))
    for topic, body in events:  # a1 (ne0), a2 (ne1), a1
        view.on_event(topic, body)
    view.resync_needed = ""
    view.begin_resync()
    lost = pool.act(("clear", 0, 0))
    assert lost
    for topic, body in pool.act(("raise", 3, 2)) + pool.act(("raise", 1, 0)):
        view.on_event(topic, body)  # a2 in order; a1's next one shows its lost clear
    view.apply_snapshot(pool.snapshot())
    assert view.summary() == pool.truth()
    assert view.resync_needed == "missed events from a1"


def test_duplicates_through_two_paths_are_applied_once() -> None:
    pool = Pool()
    view = AlarmView()
    resync(view, pool, [], 0)
    for topic, body in pool.act(("raise", 0, 0)):
        assert view.on_event(topic, body) is Verdict.FIRST
        assert view.on_event(topic, dict(body) | {"via": "a2"}) is Verdict.DUPLICATE
    assert view.applied == 1
    (item,) = view.items()
    assert item["count"] == 1 and item["agent"] == "a1" and item["severity"] == "minor"


def test_a_handover_asks_for_a_resync_and_the_resync_names_the_new_owner() -> None:
    pool = Pool()
    view = AlarmView()
    resync(view, pool, [], 0)
    for op in [("raise", 0, 0), ("raise", 2, 0), ("raise", 4, 0)]:
        for topic, body in pool.act(op):
            view.on_event(topic, body)
    resync(view, pool, [], 0)  # the "first event" ones done
    assert view.resync_needed == ""
    for topic, body in pool.move("ne0", "a2"):
        view.on_event(topic, body)
    assert view.resync_needed == "a2 now manages other NEs"
    resync(view, pool, [], 0)
    assert {k.ne: a["agent"] for k, a in view.alarms.items()}["ne0"] == "a2"
    for topic, body in pool.act(("clear", 0, 0)):  # now from its new owner
        assert body["origin"] == "a2"
        view.on_event(topic, body)
    assert view.summary() == pool.truth() and view.resync_needed == ""

"""Paging of the federated alarm list (shared/alarmpage.py): the one order, member snapshot
generations, the merge of already sorted member pages under a keyset cursor, and a client
putting the pages back together."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.helpers.hypothesis_profiles  # noqa: F401
from shared.alarmpage import (
    ALARMS,
    EntryCache,
    Generations,
    Merge,
    PageError,
    Pages,
    PartPage,
    Snapshot,
    alarm_entry,
    item_key,
    page_limit,
    part_page,
)
from shared.alarms import AlarmStore
from shared.federated import worst_first
from shared.fedpage import nth_key
from shared.model import AlarmKey, Severity

SEVERITIES = ("critical", "major", "minor", "warning", "indeterminate")


def alarm(agent: str, i: int, sev: str, t: float) -> dict:
    return {
        "ne": f"ne{i % 7}", "obj": f"if{i}", "type": "link-down", "severity": sev,
        "text": f"port {i} down", "active": True, "count": 1, "first_seen": t,
        "last_seen": t, "raised_at": t, "cleared_at": None, "acked_by": None,
        "acked_at": None, "agent": agent,
    }  # fmt: skip


def snapshot(gen: str, alarms: list[dict]) -> Snapshot:
    return Snapshot.of(gen, ((item_key(a), a) for a in alarms), 0.0)


def walk(parts: dict[str, list[dict]], limit: int, rebuild_every: int = 0) -> list[dict]:
    """Every page the federating agent would give, members answering from snapshots;
    with ``rebuild_every`` its state is thrown away and rebuilt from the cursor."""
    snaps = {n: snapshot(f"{n}:1", p) for n, p in parts.items()}
    merge = Merge(gen="g", members=dict.fromkeys(parts, ""))
    out: list[dict] = []
    for page in range(1, 10_000):
        for node, args in merge.wanted(limit).items():
            after = tuple(args["after"]) if "after" in args else None
            merge.feed(node, part_page(snaps[node], after, args["limit"]))  # type: ignore[arg-type]
        items = merge.take(limit)
        assert len(items) <= limit
        out += items
        cursor = merge.cursor()
        if cursor is None:
            return out
        if rebuild_every and page % rebuild_every == 0:
            merge = Merge.from_cursor(cursor, 0.0, ALARMS)
    raise AssertionError("no last page")


@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=4),
    limit=st.integers(1, 25),
    rebuild=st.sampled_from([0, 1, 3]),
    seed=st.integers(0, 1000),
)
def test_pages_give_exactly_the_merged_set_in_order(sizes, limit, rebuild, seed):
    # Few distinct times and severities: many ties, broken by NE, object, type and agent.
    parts = {
        f"a{n}": [
            alarm(f"a{n}", i, SEVERITIES[(i * 7 + seed) % 5], float((i + seed) % 3))
            for i in range(size)
        ]
        for n, size in enumerate(sizes)
    }
    everything = [a for p in parts.values() for a in p]
    got = walk(parts, limit, rebuild)
    assert got == worst_first(everything)
    assert len({item_key(a) for a in got}) == len(got)  # the key is unique


def test_a_member_failing_between_pages_is_named_and_its_given_rows_stay():
    parts = {n: [alarm(n, i, "major", float(i)) for i in range(5)] for n in ("a1", "a2")}
    snaps = {n: snapshot(n, p) for n, p in parts.items()}
    merge = Merge(gen="g", members={"a1": "", "a2": ""})
    given_: list[str] = []
    for page in range(20):
        for node, args in merge.wanted(2).items():
            if node == "a2" and page > 0:  # gone after the first page
                merge.fail(node, "did not answer within 1 s")
                continue
            after = tuple(args["after"]) if "after" in args else None
            merge.feed(node, part_page(snaps[node], after, 2))  # type: ignore[arg-type]
        given_ += [a["agent"] for a in merge.take(2)]
        cursor = merge.cursor()
        if cursor is None:
            break
        assert Merge.from_cursor(cursor, 0.0, ALARMS).missing == merge.missing
    # What it gave in the first page stays; what it had sent but was not given yet goes.
    assert given_.count("a1") == 5 and 1 <= given_.count("a2") < 5
    assert merge.answered == ["a1"] and merge.missing == {"a2": "did not answer within 1 s"}


def test_a_member_answer_that_does_not_fit_is_refused_not_merged():
    merge = Merge(gen="g", members={"a1": "", "a2": "x", "a3": ""})
    key = (-4, -1.0, "n", "o", "t", "a2")  # a2's alarm in a1's answer
    merge.feed("a1", PartPage("a1:1", [key], [{"ne": "n"}]))
    merge.feed("a2", PartPage("y", [], []))  # not the generation of the cursor
    merge.feed("a3", PartPage("a3:1", [], [], more=False))
    assert merge.missing == {"a1": "malformed answer", "a2": "answered from another generation"}
    assert merge.take(10) == [] and merge.cursor() is None


def test_generations_expire_when_idle_and_the_oldest_goes_first():
    kept: Generations[Snapshot] = Generations(ttl=10.0, kept=2)
    for i in range(3):
        kept.put(f"g{i}", Snapshot.of(f"g{i}", [], float(i)), float(i))
    assert kept.get("g0", 3.0) is None and kept.get("g1", 3.0) is not None
    assert kept.get("g2", 12.5) is None  # idle since 2.0
    assert kept.get("g1", 12.5) is not None  # used at 3.0
    assert kept.pop("g1", 12.6) is not None and len(kept) == 0


def test_the_client_puts_pages_back_and_refuses_a_mix_of_snapshots():
    pages = Pages()
    base = {"answered": ["a1"], "missing": {}, "partial": False, "snapshot": "s1"}
    assert pages.add(base | {"items": [{"n": 1}], "next": "c1"}) == "c1"
    assert pages.add(base | {"items": [{"n": 2}], "next": None}) is None
    whole = pages.reply()
    assert whole["items"] == [{"n": 1}, {"n": 2}] and whole["pages"] == 2
    with pytest.raises(PageError, match="different snapshots"):
        pages.add(base | {"items": [], "snapshot": "s2"})
    with pytest.raises(PageError, match="cursor"):
        Merge.from_cursor("not-a-cursor!", 0.0, ALARMS)


def test_page_limits():
    assert page_limit({}) == 5000 and page_limit({"limit": 7}) == 7
    for bad in (0, 10_001, True, "5"):
        with pytest.raises(PageError, match="limit"):
            page_limit({"limit": bad})


# -- an agent's kept rows for the full list (EntryCache over a real AlarmStore) -------------
def scratch(store: AlarmStore, agent: str) -> tuple[list, list]:
    """The full list's rows made from every alarm again, as without the cache."""
    snap = Snapshot.of("s", (alarm_entry(a, agent) for a in store if a.active), 0.0)
    return snap.keys, [msgspec.to_builtins(i) for i in snap.items]


OPS = st.tuples(
    st.sampled_from(["raise", "raise", "raise", "clear", "ack", "unack", "note", "drop", "expire"]),
    st.integers(0, 4),  # NE
    st.integers(0, 3),  # object
    st.sampled_from(["critical", "major", "minor"]),
    st.booleans(),  # read the full list after this change
)


@given(ops=st.lists(OPS, max_size=40))
def test_kept_rows_are_always_the_rows_made_from_scratch(ops):
    store = AlarmStore(cleared_retention=0.0)
    cache = EntryCache("a1")
    for t, (op, ne, obj, sev, read) in enumerate(ops):
        key = AlarmKey(f"ne{ne}", f"if{obj}", "link-down")
        now = float(t // 2)  # ties in last_seen, broken by the rest of the key
        if op == "raise":
            store.raise_(key, Severity.parse(sev), f"{sev} on {obj}", now)
        elif op == "clear":
            store.clear(key, now)
        elif op == "ack":
            store.ack(key, "alice", now)
        elif op == "unack":
            store.unack(key, "alice", now)
        elif op == "note":
            store.note(key, "alice", f"looked at {obj}", now)
        elif op == "drop":
            store.drop_ne(key.ne)
        else:
            store.expire(now)
        if read:
            keys, items = cache.sorted(store)
            assert (keys, [msgspec.json.decode(i) for i in items]) == scratch(store, "a1")
    keys, items = cache.sorted(store)
    assert (keys, [msgspec.json.decode(i) for i in items]) == scratch(store, "a1")


def test_only_the_nes_that_changed_are_made_again_and_an_unchanged_store_costs_nothing():
    store = AlarmStore()
    for ne in range(10):
        for port in range(3):
            store.raise_(AlarmKey(f"ne{ne}", f"if{port}", "link-down"), Severity.MAJOR, "x", 1.0)
    cache = EntryCache("a1")
    first = cache.sorted(store)
    assert cache.rebuilt == 10 and len(first[0]) == 30
    assert cache.sorted(store) is first and cache.rebuilt == 10  # nothing changed
    store.raise_(AlarmKey("ne3", "if0", "link-down"), Severity.MAJOR, "x", 2.0)  # a poll
    keys, _ = cache.sorted(store)
    assert cache.rebuilt == 11 and keys[0][1] == -2.0 and keys[0][2] == "ne3"
    assert first[0][0][1] == -1.0  # a snapshot taken before keeps its rows
    store.drop_ne("ne5")
    keys, _ = cache.sorted(store)
    assert cache.rebuilt == 11 and len(keys) == 27 and all(k[2] != "ne5" for k in keys)


@given(
    st.lists(st.lists(st.integers(0, 60), unique=True), min_size=1, max_size=4), st.integers(1, 80)
)
def test_the_nth_key_of_sorted_lists_is_found_by_bisection(lists, n):
    # Keys unique across the lists, as the agent in a key makes them.
    bufs = [sorted((0, float(x), "", "", "", f"a{i}") for x in xs) for i, xs in enumerate(lists)]
    bufs = [b for b in bufs if b] or [[(0, 0.0, "", "", "", "a0")]]
    merged = sorted(k for b in bufs for k in b)
    assert nth_key(bufs, n) == merged[min(n, len(merged)) - 1]

"""The alarm browser's Qt-free state (console/alarmlist.py): rows in the pool's worst-first
order, changes applied, filters as the agents apply them, any column's sort with a stable
tie-break, the severity counts, a key's row after every change; and its worker thread
(console/rowsworker.py) coalescing a burst of inputs into one computation."""

from __future__ import annotations

import queue
import random
import time
from typing import Any

import pytest

from console.alarmlist import (
    COLUMN_INDEX,
    COLUMNS,
    SLICE,
    AlarmList,
    Rows,
    filter_of,
    sliced_sort,
    when,
)
from console.connection import Snapshot, State
from console.rowsworker import RowsWorker
from shared.model import AlarmKey


def alarm(ne: str, sev: str, *, obj: str = "", kind: str = "link-down", seen: float = 100.0,
          acked: str | None = None, agent: str = "p1", text: str = "", count: int = 1) -> dict[str, Any]:  # fmt: skip
    return {"ne": ne, "obj": obj, "type": kind, "severity": sev, "text": text or f"{kind} on {ne}",
            "active": True, "count": count, "first_seen": seen, "last_seen": seen,
            "raised_at": seen, "acked_by": acked, "acked_at": None, "agent": agent}  # fmt: skip


POOL = [
    alarm("rtr1", "minor", obj="if1", seen=300.0, agent="p1"),
    alarm("rtr2", "critical", kind="ne-unreachable", seen=100.0, agent="p2", count=4),
    alarm("rtr3", "major", obj="if2", seen=200.0, acked="carol", agent="p3"),
    alarm("rtr1", "critical", obj="psu1", kind="power", seen=250.0, agent="p1"),
    alarm(
        "rtr4", "warning", obj="fan", kind="fan-speed", seen=50.0, agent="p2", text="Fan tray slow"
    ),
]


def keys(lst: AlarmList) -> list[tuple[str, str]]:
    return [(a["ne"], a["obj"]) for a in lst.rows().rows]


def test_rows_are_worst_first_then_newest_and_cleared_ones_never_stand():
    lst = AlarmList()
    lst.replace([*POOL, alarm("rtr9", "major") | {"active": False}])
    assert keys(lst) == [("rtr1", "psu1"), ("rtr2", ""), ("rtr3", "if2"), ("rtr1", "if1"),
                         ("rtr4", "fan")]  # fmt: skip
    r = lst.rows()
    assert len(r) == 5 and r.cell(0, COLUMN_INDEX["severity"]) == "critical"
    assert r.cell(1, COLUMN_INDEX["count"]) == "4" and r.severity(1) == "critical"
    assert r.cell(0, COLUMN_INDEX["raised_at"]) == when(250.0) != ""
    assert r.cell(3, COLUMN_INDEX["acked_by"]) == ""


def test_changes_apply_to_the_set_and_keep_what_they_do_not_name():
    lst = AlarmList()
    lst.replace(POOL)
    v = lst.version
    lst.apply(
        [alarm("rtr4", "critical", obj="fan", kind="fan-speed", seen=400.0),
         alarm("rtr1", "minor", obj="if1") | {"active": False},
         alarm("rtr5", "major", seen=10.0)],
        [AlarmKey("rtr2", "", "ne-unreachable"), AlarmKey("nowhere", "", "x")],
    )  # fmt: skip
    assert lst.version > v
    assert keys(lst) == [("rtr4", "fan"), ("rtr1", "psu1"), ("rtr3", "if2"), ("rtr5", "")]


def test_filters_are_the_agents_own_and_combine():
    lst = AlarmList()
    lst.replace(POOL)
    lst.set_filter(filter_of(min_severity="major"))
    assert {a["severity"] for a in lst.rows().rows} == {"critical", "major"}
    lst.set_filter(filter_of(ne="rtr1"))
    assert keys(lst) == [("rtr1", "psu1"), ("rtr1", "if1")]
    lst.set_filter(filter_of(agent="p2", min_severity="warning"))
    assert keys(lst) == [("rtr2", ""), ("rtr4", "fan")]
    lst.set_filter(filter_of(text="FAN TRAY"))  # text, NE, object or type; any case
    assert keys(lst) == [("rtr4", "fan")]
    lst.set_filter(filter_of(acked="yes"))
    assert keys(lst) == [("rtr3", "if2")]
    lst.set_filter(filter_of(acked="no", ne="rtr3"))
    assert keys(lst) == []
    # A filter stays while the pool's set changes under it.
    lst.replace([*POOL, alarm("rtr3", "minor", obj="if7", acked="dave")])
    assert keys(lst) == []
    lst.set_filter(filter_of(acked="yes"))
    assert keys(lst) == [("rtr3", "if2"), ("rtr3", "if7")]
    with pytest.raises(ValueError):
        filter_of(min_severity="dreadful")


def test_any_column_sorts_both_ways_with_the_pool_order_breaking_ties():
    lst = AlarmList()
    lst.replace(POOL)
    lst.sort(COLUMN_INDEX["ne"], descending=False)
    assert keys(lst) == [("rtr1", "psu1"), ("rtr1", "if1"), ("rtr2", ""), ("rtr3", "if2"),
                         ("rtr4", "fan")]  # fmt: skip
    lst.sort(COLUMN_INDEX["last_seen"], descending=True)
    assert [a["last_seen"] for a in lst.rows().rows] == [300.0, 250.0, 200.0, 100.0, 50.0]
    lst.sort(COLUMN_INDEX["count"], descending=True)
    assert keys(lst)[0] == ("rtr2", "")
    lst.sort(COLUMN_INDEX["severity"], descending=False)
    assert [a["severity"] for a in lst.rows().rows] == ["warning", "minor", "major",
                                                        "critical", "critical"]  # fmt: skip
    lst.sort(COLUMN_INDEX["severity"], descending=True)
    assert keys(lst)[:2] == [("rtr1", "psu1"), ("rtr2", "")]
    for i in range(len(COLUMNS)):  # every column has an order that works on every row
        lst.sort(i, descending=bool(i % 2))
        assert len(lst.rows()) == 5
    with pytest.raises(IndexError):
        lst.sort(len(COLUMNS), descending=False)


def test_a_keys_row_follows_sorting_filtering_and_replacing():
    lst = AlarmList()
    lst.replace(POOL)
    k = AlarmKey("rtr3", "if2", "link-down")
    r = lst.rows()
    assert r.key(r.row_of(k) or 0) == k
    lst.sort(COLUMN_INDEX["ne"], descending=True)
    r = lst.rows()
    assert r.key(r.row_of(k) or 0) == k
    lst.set_filter(filter_of(min_severity="critical"))
    assert lst.rows().row_of(k) is None
    lst.set_filter(filter_of())
    lst.replace([a for a in POOL if a["ne"] != "rtr3"])
    assert lst.rows().row_of(k) is None


def test_the_summary_counts_the_whole_pool_not_the_shown_rows():
    lst = AlarmList()
    lst.replace(POOL)
    lst.set_filter(filter_of(ne="rtr4"))
    r = lst.rows()
    s = r.summary
    assert (s.total, s.shown) == (5, 1)
    assert s.by_severity == {"critical": 2, "major": 1, "minor": 1, "warning": 1,
                             "indeterminate": 0}  # fmt: skip
    assert s.unacked["major"] == 0 and s.unacked["critical"] == 2
    assert r.nes == ["rtr1", "rtr2", "rtr3", "rtr4"] and r.agents == ["p1", "p2", "p3"]
    assert len(r.standing) == 5 and len(r) == 1


def test_the_worker_applies_every_input_in_order_and_computes_once_per_burst():
    """The real worker thread; ``post`` queues what the GUI thread would run."""
    posted: queue.Queue[Any] = queue.Queue()
    shown: list[Rows] = []
    w = RowsWorker(posted.put, shown.append)
    w.start()
    try:
        w.feed(snap(True, POOL))
        first = posted.get(timeout=5)  # the GUI is busy: it has not run it yet
        # A burst meanwhile: it all shows in the next rows, computed once.
        w.feed(snap(False, [alarm("rtr7", "critical", seen=999.0)]))
        w.set_filter(filter_of(min_severity="critical"))
        w.feed(snap(False, [], removed=[AlarmKey("rtr2", "", "ne-unreachable")]))
        w.sort(COLUMN_INDEX["ne"], descending=True)
        time.sleep(0.2)
        assert posted.empty() and w.computed == 1  # nothing more until the first is shown
        first()
        assert [a["ne"] for a in shown[-1].standing][:2] == ["rtr1", "rtr2"]
        posted.get(timeout=5)()
        assert [a["ne"] for a in shown[-1].rows] == ["rtr7", "rtr1"]
        assert shown[-1].summary.total == 5 and w.computed == 2
    finally:
        w.stop()


def snap(
    full: bool, alarms: list[dict[str, Any]], removed: list[AlarmKey] | None = None
) -> Snapshot:
    return Snapshot(full=full, alarms=alarms, removed=removed or [], total=0, answered=[],
                    missing={}, state=State.ATTACHED, detail="", node="p1", endpoint="",
                    last_resync=0.0, last_reason="", reattaches=0, resyncs=1, applied=0)  # fmt: skip


@pytest.mark.parametrize("n", [0, 7, SLICE, 3 * SLICE + 5])
@pytest.mark.parametrize("reverse", [False, True])
def test_the_sliced_sort_is_pythons_stable_sort(n: int, reverse: bool):
    rnd = random.Random(n)
    items = [{"k": rnd.randrange(20), "i": i} for i in range(n)]  # many ties
    want = sorted(items, key=lambda a: a["k"], reverse=reverse)
    assert sliced_sort(items, lambda a: a["k"], reverse) == want

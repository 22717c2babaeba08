"""The alarm browser's Qt-free state (console/alarmlist.py): rows in the pool's worst-first
order, filters as the agents apply them, any column's sort with a stable tie-break, the
severity counts, and a key's row after every change."""

from __future__ import annotations

from typing import Any

import pytest

from console.alarmlist import COLUMN_INDEX, COLUMNS, AlarmList, filter_of, when
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
    return [(a["ne"], a["obj"]) for a in lst.rows]


def test_rows_are_worst_first_then_newest_and_cleared_ones_never_stand():
    lst = AlarmList()
    lst.replace([*POOL, alarm("rtr9", "major") | {"active": False}])
    assert keys(lst) == [("rtr1", "psu1"), ("rtr2", ""), ("rtr3", "if2"), ("rtr1", "if1"),
                         ("rtr4", "fan")]  # fmt: skip
    assert len(lst) == 5 and lst.cell(0, COLUMN_INDEX["severity"]) == "critical"
    assert lst.cell(1, COLUMN_INDEX["count"]) == "4"
    assert lst.cell(0, COLUMN_INDEX["raised_at"]) == when(250.0) != ""
    assert lst.cell(3, COLUMN_INDEX["acked_by"]) == ""


def test_filters_are_the_agents_own_and_combine():
    lst = AlarmList()
    lst.replace(POOL)
    lst.set_filter(filter_of(min_severity="major"))
    assert {a["severity"] for a in lst.rows} == {"critical", "major"}
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
    assert [a["last_seen"] for a in lst.rows] == [300.0, 250.0, 200.0, 100.0, 50.0]
    lst.sort(COLUMN_INDEX["count"], descending=True)
    assert keys(lst)[0] == ("rtr2", "")
    lst.sort(COLUMN_INDEX["severity"], descending=False)
    assert [a["severity"] for a in lst.rows] == ["warning", "minor", "major", "critical",
                                                 "critical"]  # fmt: skip
    lst.sort(COLUMN_INDEX["severity"], descending=True)
    assert keys(lst)[:2] == [("rtr1", "psu1"), ("rtr2", "")]
    for i in range(len(COLUMNS)):  # every column has an order that works on every row
        lst.sort(i, descending=bool(i % 2))
        assert len(lst) == 5
    with pytest.raises(IndexError):
        lst.sort(len(COLUMNS), descending=False)


def test_a_keys_row_follows_sorting_filtering_and_replacing():
    lst = AlarmList()
    lst.replace(POOL)
    k = AlarmKey("rtr3", "if2", "link-down")
    assert lst.key(lst.row_of(k) or 0) == k
    lst.sort(COLUMN_INDEX["ne"], descending=True)
    assert lst.key(lst.row_of(k) or 0) == k
    lst.set_filter(filter_of(min_severity="critical"))
    assert lst.row_of(k) is None
    lst.set_filter(filter_of())
    lst.replace([a for a in POOL if a["ne"] != "rtr3"])
    assert lst.row_of(k) is None


def test_the_summary_counts_the_whole_pool_not_the_shown_rows():
    lst = AlarmList()
    lst.replace(POOL)
    lst.set_filter(filter_of(ne="rtr4"))
    s = lst.summary()
    assert (s.total, s.shown) == (5, 1)
    assert s.by_severity == {"critical": 2, "major": 1, "minor": 1, "warning": 1,
                             "indeterminate": 0}  # fmt: skip
    assert s.unacked["major"] == 0 and s.unacked["critical"] == 2
    assert lst.nes() == ["rtr1", "rtr2", "rtr3", "rtr4"] and lst.agents() == ["p1", "p2", "p3"]
    assert len(lst.standing) == 5

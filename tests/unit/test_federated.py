"""Federated alarm filters and the merge of per-agent answers."""

from __future__ import annotations

import pytest

from shared.federated import AlarmFilter, FilterError, merge_lists, worst_first


def alarm(ne="sw1", sev="major", active=True, acked="", typ="linkDown", text="port down", t=1.0):
    return {
        "ne": ne,
        "obj": "ifIndex=3",
        "type": typ,
        "severity": sev,
        "text": text,
        "active": active,
        "acked_by": acked,
        "last_seen": t,
    }


ALARMS = [
    alarm(),
    alarm(ne="sw2", sev="critical", typ="fan", text="Fan tray 1 failed"),
    alarm(ne="sw3", sev="warning", acked="alice"),
    alarm(ne="sw4", active=False, sev="minor"),
]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, {"sw1", "sw2", "sw3"}),
        ({"min_severity": "major"}, {"sw1", "sw2"}),
        ({"ne": ["sw1", "sw4"]}, {"sw1"}),
        ({"ne": "sw2"}, {"sw2"}),
        ({"type": ["fan"]}, {"sw2"}),
        ({"text": "FAN TRAY"}, {"sw2"}),
        ({"text": "sw3"}, {"sw3"}),
        ({"acked": "yes"}, {"sw3"}),
        ({"acked": False}, {"sw1", "sw2"}),
        ({"state": "cleared"}, {"sw4"}),
        ({"state": "all"}, {"sw1", "sw2", "sw3", "sw4"}),
        ({"include_cleared": True}, {"sw1", "sw2", "sw3", "sw4"}),
    ],
)
def test_filter_selects(args, expected):
    f = AlarmFilter.from_args(args)
    assert {a["ne"] for a in ALARMS if f.matches(a)} == expected
    # What a receiving agent passes on to its peers selects the same.
    again = AlarmFilter.from_args(f.to_args())
    assert {a["ne"] for a in ALARMS if again.matches(a)} == expected


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"min_severity": "huge"}, "min_severity"),
        ({"min_severity": 3}, "min_severity"),
        ({"ne": 5}, "ne"),
        ({"ne": ["a", 1]}, "ne"),
        ({"text": "x" * 201}, "text"),
        ({"acked": "maybe"}, "acked"),
        ({"state": "gone"}, "state"),
    ],
)
def test_bad_filters_name_the_field(args, field):
    with pytest.raises(FilterError, match=field):
        AlarmFilter.from_args(args)


def test_agent_filter():
    f = AlarmFilter.from_args({"agent": ["a2"]})
    assert f.wants_agent("a2") and not f.wants_agent("a1")
    assert AlarmFilter().wants_agent("anyone")


def test_merge_tags_origin_orders_worst_first_and_says_who_is_missing():
    parts = {
        "a1": [alarm(ne="sw1", sev="minor", t=5.0), alarm(ne="sw5", sev="major", t=1.0)],
        "a2": [alarm(ne="sw2", sev="major", t=9.0)],
        "a3": {"not": "a list"},
    }
    m = merge_lists(parts, {"a4": "timed out after 2 s"}, order=worst_first)
    assert [a["ne"] for a in m.items] == ["sw2", "sw5", "sw1"]
    assert [a["agent"] for a in m.items] == ["a2", "a1", "a1"]
    assert m.answered == ["a1", "a2"]
    assert m.missing == {"a3": "malformed answer", "a4": "timed out after 2 s"}
    assert m.partial and m.to_dict()["partial"] is True
    assert not merge_lists({"a1": []}, {}).partial

"""`emspool watch` draws the alarm view's items, including those it built from events."""

from __future__ import annotations

from agent.watch import _draw
from shared.alarms import AlarmStore
from shared.alarmview import AlarmView
from shared.livefeed import Sequencer
from shared.model import AlarmKey, Severity


def test_the_screen_shows_alarms_from_the_snapshot_and_from_events(capsys) -> None:
    store = AlarmStore()
    seq = Sequencer("a1", "r1")
    store.raise_(AlarmKey("ne0", "if1", "link-down"), Severity.MAJOR, "if1 down", 10.0)
    view = AlarmView()
    view.begin_resync()
    view.apply_snapshot({"items": [a.to_dict() | {"agent": "a1"} for a in store]})
    t = store.raise_(AlarmKey("ne1", "", "ne-unreachable"), Severity.CRITICAL, "no answer", 20.0)
    assert t is not None
    view.on_event("event", seq.stamp(t.to_event("a1", 20.0).to_dict()))
    ne_lines = ["01:02:04 ne ne1 (a1): UNREACHABLE: timeout", "01:02:05 member a2 left"]
    _draw(
        "via a1 (tcp://x); resynced 01:02:03 (no snapshot yet)", "master a1",
        "a1 a3 (master a1)", view.items(), [], ne_lines,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "ACTIVE ALARMS (2, all agents)" in out and "via a1" in out and "resynced" in out
    assert "LIVE MEMBERS  a1 a3 (master a1)" in out
    assert "ne ne1 (a1): UNREACHABLE: timeout" in out and "member a2 left" in out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "ne1" in line)
    second = next(i for i, line in enumerate(lines) if "ne0" in line)
    assert first < second  # worst first
    assert "no answer" in lines[first] and "a1" in lines[first]

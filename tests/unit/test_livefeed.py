"""Live-event sequencing: a client notices exactly the events it missed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.livefeed import FeedError, FeedTracker, Sequencer, Stamp, Verdict


def stamp(body: dict) -> Stamp:
    return Stamp.of(body)


def test_in_order_events_are_next_and_a_gap_is_reported_with_its_width():
    seq = Sequencer("a1", "run-1")
    t = FeedTracker()
    events = [seq.stamp({"type": "alarm"}) for _ in range(6)]
    assert t.see(stamp(events[0])) is Verdict.FIRST
    assert t.see(stamp(events[1])) is Verdict.NEXT
    assert t.see(stamp(events[4])) is Verdict.GAP  # 3rd and 4th lost
    assert t.missed == 2
    assert t.see(stamp(events[2])) is Verdict.DUPLICATE  # late copy through another path
    assert t.see(stamp(events[5])) is Verdict.NEXT
    assert t.position() == {"a1": ("run-1", 6)}


def test_a_restarted_origin_is_not_mistaken_for_duplicates():
    t = FeedTracker()
    first = Sequencer("a1", "run-1")
    for _ in range(5):
        t.see(stamp(first.stamp({})))
    again = Sequencer("a1", "run-2")
    assert t.see(stamp(again.stamp({}))) is Verdict.RESTARTED
    assert t.see(stamp(again.stamp({}))) is Verdict.NEXT
    assert t.duplicates == 0


def test_forget_and_reset_start_an_origin_afresh():
    t = FeedTracker()
    s = Sequencer("a1", "r")
    t.see(stamp(s.stamp({})))
    t.forget("a1")
    assert t.see(stamp(s.stamp({}))) is Verdict.FIRST
    t.reset()
    assert t.position() == {}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"origin": "", "run": "r", "seq": 1},
        {"origin": "a", "seq": 1},
        {"origin": "a", "run": "r", "seq": 0},
        {"origin": "a", "run": "r", "seq": "1"},
        {"origin": "a", "run": "r", "seq": True},
    ],
)
def test_unstamped_events_are_a_clear_error(body):
    with pytest.raises(FeedError):
        Stamp.of(body)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a1", "a2", "a3"]), st.booleans(), st.booleans()),
        min_size=1,
        max_size=200,
    )
)
def test_missed_counts_exactly_the_dropped_events_before_the_last_delivered(plan):
    """Each origin publishes in order; each event is delivered or dropped, and delivered
    ones may arrive twice. Per origin, the tracker's missed count is the number of dropped
    events between its first and last delivered ones."""
    seqs = {o: Sequencer(o, "run") for o in ("a1", "a2", "a3")}
    t = FeedTracker()
    delivered: dict[str, list[int]] = {}
    for origin, dropped, twice in plan:
        body = seqs[origin].stamp({})
        if dropped:
            continue
        delivered.setdefault(origin, []).append(body["seq"])
        verdicts = [t.see(stamp(body)) for _ in range(2 if twice else 1)]
        assert verdicts[0] is not Verdict.DUPLICATE
        assert all(v is Verdict.DUPLICATE for v in verdicts[1:])
    expected = sum(got[-1] - got[0] + 1 - len(got) for got in delivered.values())
    assert t.missed == expected
    assert t.duplicates == sum(twice and not dropped for _, dropped, twice in plan)

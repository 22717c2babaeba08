from shared.alarms import Alarm, AlarmStore, Change
from shared.model import AlarmKey, Severity

K = AlarmKey("ne1", "ifIndex=3", "link-down")


def test_raise_dedup_clear_and_reraise():
    s = AlarmStore()
    t = s.raise_(K, Severity.MAJOR, "down", 10.0)
    assert t is not None and t.change is Change.RAISED
    assert s.raise_(K, Severity.MAJOR, "down", 11.0) is None  # dedup
    a = s.get(K)
    assert a is not None and a.count == 2 and a.first_seen == 10.0 and a.last_seen == 11.0
    t = s.clear(K, 12.0)
    assert t is not None and t.change is Change.CLEARED and t.alarm.cleared_at == 12.0
    assert s.clear(K, 13.0) is None  # a clear of a cleared alarm is no transition
    assert s.active() == []
    t = s.raise_(K, Severity.MAJOR, "down", 14.0)
    assert t is not None and t.change is Change.RAISED and t.alarm.raised_at == 14.0
    assert t.alarm.first_seen == 10.0 and t.alarm.count == 3


def test_severity_change_is_a_transition_and_snapshots_are_independent():
    s = AlarmStore()
    first = s.raise_(K, Severity.MINOR, "x", 1.0)
    t = s.raise_(K, Severity.CRITICAL, "x", 2.0)
    assert t is not None and t.change is Change.CHANGED and t.alarm.severity is Severity.CRITICAL
    assert first is not None and first.alarm.severity is Severity.MINOR
    assert s.raise_(K, Severity.CRITICAL, "better words", 3.0) is None
    a = s.get(K)
    assert a is not None and a.text == "better words"


def test_ack_is_kept_until_reraise_and_unack():
    s = AlarmStore()
    s.raise_(K, Severity.MAJOR, "x", 1.0)
    t = s.ack(K, "alice", 2.0)
    assert t is not None and t.change is Change.ACKED and t.alarm.acked_by == "alice"
    assert s.ack(K, "bob", 3.0) is None
    t = s.unack(K, "bob", 4.0)
    assert t is not None and t.change is Change.UNACKED
    a = s.get(K)
    assert a is not None and a.acked_by is None
    s.ack(K, "alice", 5.0)
    s.clear(K, 6.0)
    s.raise_(K, Severity.MAJOR, "x", 7.0)
    a = s.get(K)
    assert a is not None and a.acked_by is None  # a new occurrence needs a new ack


def test_reconcile_raises_new_and_clears_missing_only_of_that_type():
    s = AlarmStore()
    other = AlarmKey("ne1", "", "ne-unreachable")
    s.raise_(other, Severity.CRITICAL, "x", 0.0)
    ts = s.reconcile("ne1", "link-down", {"ifIndex=1": (Severity.MAJOR, "a")}, 1.0)
    assert [t.change for t in ts] == [Change.RAISED]
    ts = s.reconcile("ne1", "link-down", {"ifIndex=2": (Severity.MAJOR, "b")}, 2.0)
    assert {(t.change, t.alarm.key.obj) for t in ts} == {
        (Change.RAISED, "ifIndex=2"),
        (Change.CLEARED, "ifIndex=1"),
    }
    assert s.get(other) is not None and s.get(other).active  # type: ignore[union-attr]


def test_expire_auto_clears_and_forgets_old_cleared():
    s = AlarmStore(cleared_retention=100.0)
    r = AlarmKey("ne1", "", "device-restart")
    s.raise_(r, Severity.WARNING, "restart", 0.0, auto_clear_after=50.0)
    assert s.expire(49.0) == []
    ts = s.expire(50.0)
    assert [t.change for t in ts] == [Change.CLEARED]
    assert len(s) == 1
    s.expire(149.0)
    assert len(s) == 1
    s.expire(150.0)
    assert len(s) == 0


def test_transition_to_event():
    s = AlarmStore()
    t = s.raise_(K, Severity.MAJOR, "down", 1.0)
    assert t is not None
    ev = t.to_event("agent-a", 1.0)
    assert (ev.ne, ev.obj, ev.alarm_type, ev.type, ev.severity) == (
        "ne1",
        "ifIndex=3",
        "link-down",
        "alarm-raised",
        Severity.MAJOR,
    )
    c = s.clear(K, 2.0)
    assert c is not None and c.to_event("agent-a", 2.0).severity is Severity.CLEARED


def test_drop_ne_forgets_without_transitions():
    s = AlarmStore()
    s.raise_(K, Severity.MAJOR, "x", 1.0)
    s.raise_(AlarmKey("ne2", "", "t"), Severity.MAJOR, "x", 1.0)
    assert s.drop_ne("ne1") == 1
    assert [a.key.ne for a in s] == ["ne2"]


def test_event_ids_are_time_ordered_uuids():
    import uuid

    from shared.model import Event

    a = Event(time=1000.0, ne="n", type="t", severity=Severity.MAJOR, text="", agent="a")
    b = Event(time=1000.002, ne="n", type="t", severity=Severity.MAJOR, text="", agent="a")
    assert uuid.UUID(a.id).version == 7 and a.id < b.id and a.id != b.id
    assert Event.from_dict(a.to_dict()).id == a.id  # an explicit id is kept


def test_rebuild_from_the_event_log_keeps_raise_time_count_and_ack():
    from shared.alarms import rebuild

    s = AlarmStore()
    gone = AlarmKey("ne1", "ifIndex=4", "link-down")
    restart = AlarmKey("ne1", "", "device-restart")
    steps = [
        (10.0, s.raise_(K, Severity.MINOR, "down", 10.0)),
        (11.0, s.raise_(K, Severity.MAJOR, "down", 11.0)),  # changed
        (12.0, s.ack(K, "alice (night shift)", 12.0)),
        (13.0, s.raise_(gone, Severity.MAJOR, "down", 13.0)),
        (14.0, s.clear(gone, 14.0)),
        (15.0, s.raise_(restart, Severity.WARNING, "restarted", 15.0, auto_clear_after=300)),
    ]
    events = [t.to_event("a1", now) for now, t in steps if t is not None]
    events.reverse()  # the database hands them newest first
    got = {a.key: a for a in rebuild(events, restart_hold=300)}
    assert set(got) == {K, restart}
    a = got[K]
    assert (a.severity, a.raised_at, a.first_seen, a.acked_by, a.acked_at) == (
        Severity.MAJOR,
        10.0,
        10.0,
        "alice (night shift)",
        12.0,
    )
    assert got[restart].auto_clear_at == 315.0
    store = AlarmStore()
    store.restore(got.values())
    assert store.raise_(K, Severity.MAJOR, "down", 20.0) is None  # the next poll deduplicates


def test_every_change_moves_its_nes_revision_and_no_other():
    store = AlarmStore(cleared_retention=0.0)
    k1, k2 = AlarmKey("ne1", "if1", "link-down"), AlarmKey("ne2", "if1", "link-down")
    store.raise_(k2, Severity.MAJOR, "down", 0.0)
    seen = [store.revision_of("ne1")]
    changes = [
        lambda: store.raise_(k1, Severity.MAJOR, "down", 1.0),  # new
        lambda: store.raise_(k1, Severity.MAJOR, "down", 2.0),  # seen again: last_seen
        lambda: store.ack(k1, "alice", 3.0),
        lambda: store.note(k1, "alice", "looked at it", 3.5),
        lambda: store.unack(k1, "alice", 4.0),
        lambda: store.clear(k1, 5.0),
        lambda: store.expire(6.0),  # forgets the cleared alarm
        lambda: store.restore([Alarm(k1, Severity.MINOR, "back", 7.0, 7.0, 7.0)]),
        lambda: store.drop_ne("ne1"),
    ]
    ne2 = store.revision_of("ne2")
    for change in changes:
        change()
        assert store.revision_of("ne1") > seen[-1]
        seen.append(store.revision_of("ne1"))
    assert store.revision_of("ne2") == ne2 and store.nes() == ["ne2"]
    before = store.revision
    assert store.clear(k1, 8.0) is None and store.ack(k2, "a", 8.0) is not None
    assert store.revision == before + 1  # what changes nothing moves nothing

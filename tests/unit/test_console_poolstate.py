"""The pool tab's Qt-free state (console/poolstate.py): the database's picture joined with
the agents' live answers, and who answered the federated requests."""

from __future__ import annotations

from console.poolstate import COLUMNS, PoolState

DB_POOL = {
    "master": "p1",
    "epoch": 4,
    "assignment": {"epoch": 4, "version": 9, "nes": 12},
    "members": [
        {"node_id": "p1", "state": "master", "epoch": 4, "age": 0.4, "assigned": 5,
         "managed": 5, "endpoint": "tcp://127.0.0.1:7001", "health": {}},
        {"node_id": "p2", "state": "follower", "epoch": 4, "age": 0.9, "assigned": 7,
         "managed": 7, "endpoint": "tcp://127.0.0.1:7002",
         "health": {"snmp_polls": 70, "snmp_failures": 1, "unreachable": 0}},
        {"node_id": "p3", "state": "dead", "epoch": 3, "age": 42.0, "assigned": 0,
         "managed": 4, "endpoint": "tcp://127.0.0.1:7003", "health": {}},
    ],
    "orphans": [],
    "fetched": 1000.0,
}  # fmt: skip
HEALTH = {
    "items": [
        {"node_id": "p1", "managed": 5, "alarms_active": 2, "agent": "p1",
         "election": {"role": "master", "epoch": 4},
         "health": {"snmp_polls": 50, "snmp_failures": 3, "netconf_polls": 8,
                    "netconf_failures": 0, "unreachable": 1}},
        {"node_id": "p2", "managed": 7, "alarms_active": 0, "agent": "p2",
         "election": {"role": "follower", "epoch": 4}, "health": {}},
    ],
    "answered": ["p1", "p2"],
    "missing": {"p3": "not alive (last heartbeat 42 s ago by the database)"},
}  # fmt: skip


def col(name: str) -> int:
    return COLUMNS.index(name)


def test_rows_join_the_database_and_the_live_answers():
    st = PoolState(db_pool=DB_POOL, health=HEALTH)
    rows = {r[0]: r for r in st.rows()}
    assert list(rows) == ["p1", "p2", "p3"] and all(len(r) == len(COLUMNS) for r in rows.values())
    p1, p2, p3 = rows["p1"], rows["p2"], rows["p3"]
    assert (p1[col("State")], p1[col("Role (live)")], p1[col("Epoch")]) == ("master", "master", "4")
    assert (
        p1[col("SNMP polls / failed")] == "50 / 3" and p1[col("NETCONF polls / failed")] == "8 / 0"
    )
    assert p1[col("Unreachable NEs")] == "1" and p1[col("Alarms")] == "2"
    assert p2[col("NEs assigned")] == "7" and p2[col("SNMP polls / failed")] == "70 / 1"
    assert p3[col("State")] == "dead" and p3[col("Role (live)")] == ""
    assert p3[col("Answered")].startswith("NO: not alive") and p1[col("Answered")] == "yes"
    assert p3[col("Heartbeat")] == "42.0 s ago" and p3[col("Epoch")] == "3"


def test_the_headline_and_who_answered():
    st = PoolState()
    assert "waiting" in st.headline() and st.answers() == []
    st.db_pool = DB_POOL | {"orphans": ["rtr9"]}
    assert st.headline().startswith("master p1 · epoch 4 · assignment v9 (12 NEs)")
    assert "rtr9" in st.headline()
    st.health = HEALTH
    st.alarms_answered, st.alarms_missing = ["p1", "p2"], {"p3": "timeout"}
    lines = st.answers()
    assert lines[0].startswith("pool.health: answered by p1, p2; NO ANSWER from p3 (not alive")
    assert lines[1] == "pool.alarms: answered by p1, p2; NO ANSWER from p3 (timeout)"
    st.error = "no answer from p1 within 3 s"
    assert st.answers()[-1] == "last error: no answer from p1 within 3 s"


def test_a_master_by_the_lease_wins_over_a_stale_row():
    pool = DB_POOL | {"master": "p2"}
    rows = {r[0]: r for r in PoolState(db_pool=pool).rows()}
    assert rows["p2"][col("State")] == "master"


def test_master_changes_from_the_event_log_newest_first():
    st = PoolState()
    st.master_events = [
        {"time": 30.0, "agent": "b", "text": "pool master: became master, epoch 3"},
        {"time": 29.0, "agent": "a", "text": "pool master: no longer master, epoch 2: paused"},
        {"time": 28.0, "agent": "a", "text": "agent started"},  # not a master change
        {"time": 10.0, "agent": "a", "text": "pool master: became master, epoch 2"},
    ]
    rows = st.history()
    assert [(a, c) for _, a, c in rows] == [
        ("b", "became master, epoch 3"),
        ("a", "no longer master, epoch 2: paused"),
        ("a", "became master, epoch 2"),
    ]
    assert st.failovers() == 2


def test_the_first_member_set_is_no_news_later_joins_and_leaves_are():
    st = PoolState()
    assert not st.members_changed(["a", "b"], "a", 1, ["a", "b"], [], "10:00:00")
    assert st.member_news == []
    assert st.members_changed(["a"], "a", 1, [], ["b"], "10:00:05")
    assert st.members_changed(["a", "b"], "a", 1, ["b"], [], "10:00:09")
    assert st.member_news == ["b left 10:00:05", "b joined 10:00:09"]

"""The database layer against real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import socket
import sqlite3
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select, text

from agent.db import MIGRATIONS_DIR, Database, InventoryConflict, migrate
from agent.textsearch import outside_model
from shared.errors import ConfigError, DatabaseError, NotFound
from shared.model import (
    CredentialProfile,
    Event,
    EventType,
    LinkAlarms,
    NetworkElement,
    Protocol,
    Severity,
    SnmpVersion,
)
from shared.schema import Link, metadata, network_elements
from tests.helpers.pgdb import BACKENDS, empty_tables, migrated_database

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=BACKENDS)
def migrated_url(request, tmp_path_factory):
    # SQLite in a directory that does not exist yet: open/migrate must create it.
    with migrated_database(request.param, tmp_path_factory.mktemp("db") / "new" / "dir") as url:
        yield url


@pytest.fixture
def db(migrated_url):
    empty_tables(migrated_url)
    database = Database.open(migrated_url)
    yield database
    database.close()


V3 = CredentialProfile(
    name="lab-v3",
    version=SnmpVersion.V3,
    user="ops",
    auth_protocol="sha256",
    auth_key="auth-Secret-123",
    priv_protocol="aes128",
    priv_key="priv-Secret-456",
)
V2 = CredentialProfile(name="lab-v2", community="comm-Secret-789")

INVENTORY: dict[str, list[dict[str, object]]] = {
    "profiles": [
        {
            "name": "lab-v3",
            "version": "3",
            "user": "ops",
            "auth_protocol": "SHA256",
            "auth_key": "auth-Secret-123",
            "priv_protocol": "aes128",
            "priv_key": "priv-Secret-456",
        },
        {"name": "lab-v2", "version": "v2c", "community": "comm-Secret-789"},
    ],
    "devices": [
        {
            "name": "rtr1",
            "kind": "router",
            "address": "127.0.0.1",
            "port": 16101,
            "profile": "lab-v3",
        },
        {
            "name": "rtr2",
            "kind": "router",
            "address": "127.0.0.1",
            "port": 16102,
            "profile": "lab-v2",
        },
        {"name": "sw1", "kind": "switch", "address": "127.0.0.2", "port": 161, "profile": "lab-v2"},
    ],
    "links": [
        {"a": "rtr1", "a_port": "Gi0/1", "b": "rtr2", "b_port": "Gi0/1"},
        {"a": "sw1", "a_port": "Eth1", "b": "rtr1", "b_port": "Gi0/2"},
        # The first link again, seen from the other end: must not become a second link.
        {"a": "rtr2", "a_port": "Gi0/1", "b": "rtr1", "b_port": "Gi0/1"},
    ],
}


def make_events(n: int, *, t0: float = 1_700_000_000.0, ne: str = "rtr1") -> list[Event]:
    return [
        Event(
            time=t0 + i,
            ne=ne,
            type=EventType.TRAP,
            severity=Severity(i % 6),
            text=f"event {i}",
            agent="agent-a",
        )
        for i in range(n)
    ]


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def test_migrate_twice_is_a_no_op_and_matches_the_schema(migrated_url):
    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    assert head is not None
    assert migrate(migrated_url) == head
    engine = create_engine(migrated_url)
    try:
        with engine.connect() as conn:
            # the free-text index is outside the model (agent/textsearch.py)
            opts = {"compare_type": True, "include_name": outside_model}
            context = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(context, metadata) == []
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_profiles_round_trip_secrets_but_repr_hides_them(db):
    assert db.upsert_profile(V3) is True
    assert db.upsert_profile(V2) is True
    assert db.upsert_profile(V3) is False  # unchanged
    profiles = db.get_profiles()
    assert profiles == {"lab-v2": V2, "lab-v3": V3}
    shown = repr(profiles) + repr(db.get_profile("lab-v3"))
    for secret in ("auth-Secret-123", "priv-Secret-456", "comm-Secret-789"):
        assert secret not in shown
    changed = CredentialProfile(name="lab-v2", community="rotated")
    assert db.upsert_profile(changed) is True
    assert db.get_profile("lab-v2").community == "rotated"


def test_profile_in_use_cannot_be_removed(db):
    db.upsert_profile(V2)
    db.add_ne(NetworkElement(name="rtr1", address="127.0.0.1", port=1161, profile="lab-v2"))
    with pytest.raises(InventoryConflict, match="used by 1 NE"):
        db.remove_profile("lab-v2")
    db.remove_ne("rtr1")
    db.remove_profile("lab-v2")
    assert db.get_profiles() == {}
    with pytest.raises(NotFound):
        db.remove_profile("lab-v2")


def test_ne_add_replace_list_remove(db):
    db.upsert_profile(V2)
    db.upsert_profile(V3)
    ne = NetworkElement(
        name="rtr1",
        address="127.0.0.1",
        port=1161,
        profile="lab-v2",
        protocols=frozenset({Protocol.SNMP, Protocol.NETCONF}),
        poll_interval=30.0,
    )
    assert db.add_ne(ne) is True
    assert db.get_ne("rtr1") == ne
    with pytest.raises(InventoryConflict, match="already exists"):
        db.add_ne(ne)
    moved = NetworkElement(name="rtr1", address="127.0.0.1", port=1162, profile="lab-v3")
    assert db.add_ne(moved, replace=True) is True
    assert db.add_ne(moved, replace=True) is False
    assert db.get_ne("rtr1") == moved
    with pytest.raises(NotFound, match="profile 'nope'"):
        db.add_ne(NetworkElement(name="rtr2", address="127.0.0.9", profile="nope"))
    with pytest.raises(InventoryConflict, match="already NE 'rtr1'"):
        db.add_ne(NetworkElement(name="rtr2", address="127.0.0.1", port=1162, profile="lab-v2"))
    db.add_ne(NetworkElement(name="a-sw", address="127.0.0.3", profile="lab-v2", kind="switch"))
    assert [n.name for n in db.list_nes()] == ["a-sw", "rtr1"]
    db.remove_ne("rtr1")
    assert [n.name for n in db.list_nes()] == ["a-sw"]
    with pytest.raises(NotFound):
        db.remove_ne("rtr1")
    with pytest.raises(NotFound):
        db.get_ne("rtr1")


def test_import_inventory_is_idempotent(db, migrated_url):
    assert db.import_inventory(INVENTORY) == (2, 3)
    engine = create_engine(migrated_url)
    try:
        with engine.connect() as conn:
            before = conn.execute(select(network_elements).order_by(network_elements.c.name)).all()
        assert db.import_inventory(INVENTORY) == (0, 0)
        with engine.connect() as conn:
            after = conn.execute(select(network_elements).order_by(network_elements.c.name)).all()
    finally:
        engine.dispose()
    assert before == after  # not even the 'updated' stamps moved
    assert db.get_profiles()["lab-v3"] == V3
    assert db.get_ne("sw1").kind == "switch"
    assert [(x.a_ne, x.a_port, x.b_ne, x.b_port) for x in db.list_links()] == [
        ("rtr1", "Gi0/1", "rtr2", "Gi0/1"),
        ("rtr1", "Gi0/2", "sw1", "Eth1"),
    ]


def test_import_is_all_or_nothing(db):
    bad = {
        "profiles": INVENTORY["profiles"],
        "devices": [
            *INVENTORY["devices"],
            {"name": "x", "address": "127.0.0.9", "profile": "nope"},
        ],
    }
    with pytest.raises(NotFound, match="nope"):
        db.import_inventory(bad)
    assert db.list_nes() == []
    assert db.get_profiles() == {}
    with pytest.raises(ConfigError, match=r"devices\[0\].*port"):
        db.import_inventory({"devices": [{"name": "y", "address": "h", "port": 70000}]})


def test_replace_links_scoped_to_one_ne(db):
    db.replace_links([Link("a", "1", "b", "1"), Link("c", "1", "d", "1")], source="manual")
    db.replace_links([Link("b", "2", "a", "2"), Link("c", "2", "d", "2")], source="lldp")
    # A new LLDP walk of 'c' finds one neighbour only: c's other LLDP link goes, a-b stays.
    assert db.replace_links([Link("c", "3", "e", "1")], source="lldp", ne="c") == 1
    lldp = [(x.a_ne, x.a_port, x.b_ne, x.b_port) for x in db.list_links("lldp")]
    assert lldp == [("a", "2", "b", "2"), ("c", "3", "e", "1")]
    assert len(db.list_links("manual")) == 2
    with pytest.raises(ValueError):
        db.replace_links([Link("x", "1", "y", "1")], source="lldp", ne="c")


def test_insert_events_is_idempotent_on_the_uuid(db):
    events = make_events(1500)
    assert db.insert_events(events) == 1500
    assert db.insert_events(events[:700]) == 0
    extra = make_events(3, t0=1_800_000_000.0)
    assert db.insert_events(events[700:900] + extra) == 3
    assert db.count_events() == 1503
    got = db.query_events(ne="rtr1", limit=1)[0]
    assert got == extra[-1]  # every field survives the round trip, float time exact


def test_hostile_event_fields_do_not_poison_a_batch(db):
    odd = Event(
        time=1.0,
        ne="n" * 500,
        type=EventType.TRAP,
        severity=Severity.MINOR,
        text="nul\x00byte",
        agent="a",
    )
    assert db.insert_events([odd, *make_events(2)]) == 3
    stored = db.query_events(types=[EventType.TRAP], until=2.0)[0]
    assert stored.id == odd.id
    assert stored.text == "nulbyte"
    assert len(stored.ne) == 100


def test_keyset_paging_visits_every_event_once(db):
    events = make_events(230)
    # Ties on time: the id breaks them, so no row is skipped or repeated across pages.
    events += [
        Event(
            time=1_700_000_050.0,
            ne="rtr2",
            type="trap",
            severity=Severity.MAJOR,
            text="t",
            agent="b",
        )
        for _ in range(25)
    ]
    db.insert_events(events)
    expected = sorted(events, key=lambda e: (e.time, e.id), reverse=True)
    seen: list[Event] = []
    cursor = None
    for _ in range(100):  # bounded: 255 rows / 40 per page
        page = db.query_events(limit=40, before=cursor)
        if not page:
            break
        seen += page
        cursor = (page[-1].time, page[-1].id)
    assert [e.id for e in seen] == [e.id for e in expected]


def test_query_filters(db):
    t0 = 1_700_000_000.0
    db.insert_events(make_events(60, t0=t0, ne="rtr1") + make_events(30, t0=t0, ne="rtr2"))
    db.insert_events(
        [
            Event(
                time=t0 + 5.5,
                ne="rtr2",
                type=EventType.ALARM_RAISED,
                severity=Severity.CRITICAL,
                text="x",
                agent="a",
            )
        ]
    )
    assert len(db.query_events(ne="rtr2", limit=1000)) == 31
    assert len(db.query_events(ne=["rtr1", "rtr2"], limit=1000)) == 91
    window = db.query_events(ne="rtr1", since=t0 + 10, until=t0 + 20, limit=1000)
    assert [e.time for e in window] == [t0 + i for i in range(19, 9, -1)]
    raised = db.query_events(types=[EventType.ALARM_RAISED])
    assert [(e.ne, e.severity) for e in raised] == [("rtr2", Severity.CRITICAL)]
    severe = db.query_events(min_severity=Severity.MAJOR, limit=1000)
    assert severe and all(e.severity >= Severity.MAJOR for e in severe)
    assert len(severe) == 20 + 10 + 1  # severities cycle 0..5: a third are MAJOR or worse
    assert len(db.query_events(limit=7)) == 7


def test_database_clock_is_close_to_ours(db):
    assert abs(db.db_time() - time.time()) < 5


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_errors_never_show_the_password():
    url = f"postgresql+psycopg://emspool:pw-Secret-42@127.0.0.1:{_closed_port()}/nothing"
    db = Database.open(url, connect_timeout=1)
    try:
        assert "pw-Secret-42" not in repr(db)
        with pytest.raises(DatabaseError) as err:
            db.insert_events(make_events(1))
        assert "pw-Secret-42" not in str(err.value)
        assert "***" in str(err.value)
        with pytest.raises(DatabaseError) as err:
            migrate(url, connect_timeout=1)
        assert "pw-Secret-42" not in str(err.value)
    finally:
        db.close()


def test_sqlite_connection_settings(tmp_path):
    path = tmp_path / "pool.db"
    migrate(f"sqlite:///{path}")
    db = Database.open(f"sqlite:///{path}", busy_timeout=1.5)
    try:
        # Per-connection pragmas are only visible from the engine's own connections.
        with db._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1500
    finally:
        db.close()
    raw = sqlite3.connect(path)
    try:
        # WAL is a property of the file: other processes (the CLI, a backup) see it too.
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_unsupported_url_is_a_clear_error():
    with pytest.raises(DatabaseError, match="unsupported database 'mysql'"):
        Database.open("mysql://u:p@localhost/x")


def test_ne_policy_fields_round_trip_and_update(db):
    db.upsert_profile(V3)
    ne = NetworkElement(
        "sw9",
        "127.0.0.9",
        profile="lab-v3",
        engine_id="800000090300aabbccddee",
        context="vrf-red",
        link_alarms=LinkAlarms.MONITOR,
        interface_alarms=(("3", LinkAlarms.IGNORE), ("ge-0/0/1", LinkAlarms.DEFAULT)),
        zone="dc1",
        pin="agent-2",
    )
    db.add_ne(ne)
    assert db.get_ne("sw9") == ne
    assert db.update_ne("sw9", zone="", pin="").zone == "" and db.get_ne("sw9").pin == ""
    changed = db.update_ne("sw9", managed=False)
    assert changed.managed is False and db.get_ne("sw9").managed is False
    with pytest.raises(NotFound):
        db.update_ne("nope", managed=False)


def test_inventory_policy_fields_are_validated(db):
    doc = {
        "profiles": INVENTORY["profiles"],
        "devices": [
            {
                "name": "sw1",
                "address": "127.0.0.2",
                "profile": "lab-v2",
                "link_alarms": "Monitor",
                "interface_alarms": {"Eth1": "ignore"},
                "engine_id": "80:00:00:09:03:00:aa:bb",
                "zone": "dc-2",
                "pin": "agent-1",
            }
        ],
    }
    db.import_inventory(doc)
    sw1 = db.get_ne("sw1")
    assert sw1.link_alarms is LinkAlarms.MONITOR
    assert sw1.interface_alarms == (("Eth1", LinkAlarms.IGNORE),)
    assert sw1.engine_id == "800000090300aabb"
    assert (sw1.zone, sw1.pin) == ("dc-2", "agent-1")
    for bad, words in (
        ({"zone": "dc 2"}, "zone must be"),
        ({"pin": 7}, "pin must be"),
        ({"interface_alarms": {"Eth1": "sometimes"}}, "Eth1"),
        ({"engine_id": "zz"}, "not hex"),
        ({"engine_id": "0102"}, "5 to 32 octets"),
        ({"link_alarms": "loud"}, "loud"),
    ):
        device = doc["devices"][0] | bad
        with pytest.raises(ConfigError, match=words):
            db.import_inventory({"profiles": doc["profiles"], "devices": [device]})


def test_learned_engine_ids_saved_reset_and_dropped_with_the_ne(db):
    db.upsert_profile(V3)
    db.add_ne(NetworkElement("r1", "127.0.0.1", profile="lab-v3"))
    assert db.learned_engines() == {}
    db.save_engine("r1", "8000000903aa", agent="a1", source="trap")
    db.save_engine("r1", "8000000903bb", agent="a2", source="poll")
    assert db.learned_engines() == {"r1": "8000000903bb"}
    assert db.reset_engine("r1") is True and db.reset_engine("r1") is False
    db.save_engine("r1", "8000000903cc", agent="a1", source="trap")
    db.remove_ne("r1")
    assert db.learned_engines() == {}

"""Free-text search through the trigram index gives exactly the plain scan's rows, on both
backends: mixed case, non-ASCII letters, LIKE wildcards and FTS syntax in the text, terms
shorter than a trigram, pages by cursor, counts; and rows written after the index was built
(triggers on SQLite) are found."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text

from agent import eventlog, eventsearch, textsearch
from agent.db import Database
from shared.eventquery import Cursor, EventQuery
from shared.model import Event, EventType, Severity
from tests.helpers.eventpages import all_pages as service_pages
from tests.helpers.pgdb import BACKENDS, migrated_database

pytestmark = pytest.mark.timeout(120)

T0 = 1_800_000_000.0

TEXTS = [
    "Fan TRAY 2 failed on rtr1",
    "fan tray 3 failed on rtr2",
    "FAN Tray removed",
    "Éclair ÉCLAIR éclair",
    "straße STRASSE Straße",
    "İstanbul link down",
    "🔥 hot 🔥 sensor",
    "50% of 10_000 LOST",
    "5000 of 10000 lost",
    'path C:\\temp\\x "quoted" AND NEAR(a b) *',
    "ab",
    "x",
    "ge-0/0/1 is down (admin up)",
    "cafe\u0301 combining",
    "café precomposed",
]

NEEDLES = [
    "fan tray",
    "FAN TRAY",
    "tray",
    "éclair",
    "ÉCLAIR",
    "clair",
    "straße",
    "STRASSE",
    "ss",
    "istanbul",
    "İstanbul",
    "🔥 hot",
    "🔥",
    "50%",
    "%",
    "10_000",
    "_",
    "0_0",
    "\\temp\\",
    '"quoted"',
    "AND NEAR(",
    "*",
    "ab",
    "x",
    "é",
    "down (admin",
    "e\u0301 comb",
    "café",
    "nothing like it",
    "   ",
]


def _events() -> list[Event]:
    return [
        Event(
            time=T0 + i // 3,  # threes share a timestamp: the id orders them
            ne=f"ne{i % 4}",
            type=EventType.ALARM_RAISED if i % 2 else EventType.TRAP,
            severity=Severity(i % 6),
            text=TEXTS[i % len(TEXTS)] + ("" if i % 5 else f" #{i}"),
            agent=f"a{i % 3}",
        )
        for i in range(600)
    ]


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, tmp_path_factory) -> Iterator[Database]:
    with migrated_database(request.param, tmp_path_factory.mktemp("txt")) as url:
        database = Database.open(url)
        database.insert_events(_events())
        assert database.index_event_text(10_000) == (600 if request.param == "sqlite" else 0)
        assert database.text_index_lag() == 0
        yield database
        database.close()


def _forced(db: Database, conn: Connection, indexed: bool) -> None:
    if db.dialect == "postgresql":
        # The planner picks the GIN index by itself; the test forces each path: the index
        # (no seq scan, no plain index walk) or the plain scan (no bitmap, so no GIN).
        off = ("enable_seqscan", "enable_indexscan") if indexed else ("enable_bitmapscan",)
        for setting in off:
            conn.execute(text(f"SET LOCAL {setting} = off"))


def _statement(
    db: Database, conn: Connection, q: EventQuery, cursor: str | None, indexed: bool, limit: int
):
    at = Cursor.decode(cursor, q) if cursor else None
    rowids = None
    if indexed and db.dialect == "sqlite":  # the rowids the FTS index gives (all rare here)
        rowids = textsearch.sqlite_rare_rowids(conn, q.text)
    return eventsearch.page_statement(q, at, limit, db.dialect, rowids)


def _plan(db: Database, q: EventQuery, indexed: bool) -> str:
    with db.transaction("explaining") as conn:
        _forced(db, conn, indexed)
        compiled = _statement(db, conn, q, None, indexed, 7).compile(dialect=conn.dialect)
        if db.dialect == "postgresql":
            rows = conn.exec_driver_sql(f"EXPLAIN {compiled.string}", compiled.params)
        else:
            params = tuple(compiled.params[k] for k in compiled.positiontup or ())
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", params)
        return "\n".join(str(r[-1]) for r in rows)


def forced_pages(db: Database, q: EventQuery, indexed: bool, limit: int = 7) -> list[Event]:
    """Every match, page by page (keyset cursor), through one forced path."""
    out: list[Event] = []
    cursor = None
    for _ in range(500):  # bounded
        with db.transaction("searching") as conn:
            _forced(db, conn, indexed)
            rows = [
                eventlog.event_from_row(r)
                for r in conn.execute(_statement(db, conn, q, cursor, indexed, limit))
            ]
        out += rows[:limit]
        if len(rows) <= limit:
            return out
        last = rows[limit - 1]
        cursor = Cursor(last.time, last.id, q.newest_first).encode()
    raise AssertionError("paging does not end")


def test_the_index_is_there_and_the_forced_paths_differ(db):
    assert db.has_text_index()
    q = EventQuery(text="fan tray")
    # SQLite: the FTS index's rowids (json_each) looked up by rowid; PostgreSQL: the GIN index.
    name = textsearch.TRGM_INDEX if db.dialect == "postgresql" else "json_each"
    assert name in _plan(db, q, indexed=True)
    assert name not in _plan(db, q, indexed=False)
    if db.dialect == "sqlite":
        with db.transaction("reading the index") as conn:
            assert textsearch.sqlite_rare_rowids(conn, "fan tray") not in (None, "[]")
            assert textsearch.sqlite_rare_rowids(conn, "ab") is None  # no trigram: scanned


@pytest.mark.parametrize("needle", NEEDLES)
def test_indexed_search_gives_the_plain_scans_rows(db, needle):
    plain = forced_pages(db, EventQuery(text=needle), indexed=False)
    assert [e.id for e in forced_pages(db, EventQuery(text=needle), indexed=True)] == [
        e.id for e in plain
    ]
    assert [e.id for e in service_pages(db, EventQuery(text=needle), 7)] == [e.id for e in plain]
    # with other filters and the other order, and several NEs (per-NE pages merged)
    q = EventQuery(text=needle, nes=("ne1", "ne3"), min_severity=Severity.MINOR, newest_first=False)
    filtered = forced_pages(db, q, indexed=False)
    assert [e.id for e in forced_pages(db, q, indexed=True)] == [e.id for e in filtered]
    assert [e.id for e in service_pages(db, q, 7)] == [e.id for e in filtered]
    counts = db.event_counts(EventQuery(text=needle))
    assert counts.total == len(plain)
    assert counts.by_ne == dict(Counter(e.ne for e in plain))
    assert counts.by_severity == dict(Counter(e.severity.label for e in plain))


def test_case_and_wildcards_mean_what_the_plain_scan_means(db):
    def texts(needle: str) -> set[str]:
        return {e.text.split(" #")[0] for e in service_pages(db, EventQuery(text=needle), 100)}

    assert texts("FAN TRAY") == {"Fan TRAY 2 failed on rtr1", "fan tray 3 failed on rtr2",
                                 "FAN Tray removed"}  # fmt: skip
    assert texts("50%") == texts("%") == {"50% of 10_000 LOST"}  # '%' is a character
    assert texts("0_0") == {"50% of 10_000 LOST"}  # '_' too, not "any one character"
    assert texts("x") >= {"x", 'path C:\\temp\\x "quoted" AND NEAR(a b) *'}  # short: scanned
    assert texts('"quoted" AND NEAR(') == {'path C:\\temp\\x "quoted" AND NEAR(a b) *'}


def test_rows_written_after_the_index_was_built_are_found_then_indexed(db):
    fresh = [
        Event(T0 + 10_000 + i, "ne9", EventType.TRAP, Severity.MAJOR, f"Zebra-{i} Crossing", "a0")
        for i in range(5)
    ]
    db.insert_events(fresh)
    db.insert_events(fresh[:2])  # replays add nothing
    expected = sorted(e.id for e in fresh)
    # SQLite: not in the FTS index yet, found as rows above its high-water mark
    assert db.text_index_lag() == (5 if db.dialect == "sqlite" else 0)
    assert (
        sorted(e.id for e in forced_pages(db, EventQuery(text="zebra-"), indexed=True)) == expected
    )
    assert db.index_event_text(3) == (3 if db.dialect == "sqlite" else 0)  # rounds are bounded
    assert db.text_index_lag() == (2 if db.dialect == "sqlite" else 0)
    assert (
        sorted(e.id for e in forced_pages(db, EventQuery(text="zebra-"), indexed=True)) == expected
    )
    db.index_event_text(100)
    assert db.text_index_lag() == 0 and db.index_event_text(100) == 0
    assert (
        sorted(e.id for e in forced_pages(db, EventQuery(text="zebra-"), indexed=True)) == expected
    )
    assert db.event_counts(EventQuery(text="ZEBRA")).total == 5
    if db.dialect == "sqlite":  # the FTS index holds each row once, as event_log has it
        with db.transaction("checking the FTS index") as conn:
            conn.execute(
                text(
                    "INSERT INTO event_log_fts (event_log_fts, rank) VALUES ('integrity-check', 1)"
                )
            )

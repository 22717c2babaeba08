"""The event log's free-text index: whether a database has one, when a search uses it, and
(SQLite) bringing newly written rows into it.

SQLite: ``event_log_fts``, an FTS5 table with the trigram tokenizer over event_log.text
(external content by rowid). PostgreSQL: ``ix_event_log_text_trgm``, a pg_trgm GIN index,
when the extension could be created. Both come from migration 0007.

The search's meaning does not change: the index only narrows the rows, and the plain
predicate (LIKE on SQLite, ILIKE on PostgreSQL, agent/eventsearch.py) still decides each one.
The trigram tokenizer folds case over all of Unicode and SQLite's LIKE only for ASCII, so the
index's candidates are a superset of LIKE's matches; pg_trgm's GIN scan is lossy and
rechecked by PostgreSQL. A text shorter than three characters has no trigram and scans.

Which path is cheaper depends on how many rows match: a common text is found within the first
rows of the (time, id) walk, a rare one only after reading the whole log (237-803 ms at 5M
rows). PostgreSQL's planner chooses between the GIN bitmap and the walk from its statistics.
SQLite's cannot (it has no statistics for an FTS MATCH), so the search first reads the
index's matches up to ``RARE_MAX`` (an FTS5 query stops reading at the LIMIT) and, below that,
looks up just those rows.

SQLite rows are indexed after they are written, not by a trigger in the insert: the trigram
insert costs about four times the row's own (CPU per row, 200,000 rows: 16,500/s with it,
67,700/s without), which would take the outbox below its 20,000 events/s. The agents index
what is new every half second (agent/runtime.py); event_text_indexed.upto is the highest
rowid indexed, and a search also reads the rows above it (a prefix, as SQLite commits one
writer at a time in rowid order), so a row is found as soon as it is written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, literal_column, text

FTS_TABLE = "event_log_fts"
INDEXED_TABLE = "event_text_indexed"  # one row: upto, the highest event_log rowid indexed
TRGM_INDEX = "ix_event_log_text_trgm"
# What migration 0007 runs when pg_trgm exists; `emspool doctor` names it when it does not.
TRGM_DDL = f"CREATE INDEX {TRGM_INDEX} ON event_log USING gin (text gin_trgm_ops)"
TRIGRAM_MIN = 3
# Below this many matches the index path costs at most this many row look-ups and a sort
# (~3 ms); above it the matches are at least 1 in 2,500 rows of a 5M log, so the walk finds a
# page of 100 within ~250,000 rows. At 10,000 a text with 7,000 matches took 50 ms by the
# index and 32 ms by the walk, and the probe of a common text 7 ms instead of 2 (5M rows).
RARE_MAX = 2_000
# Rows not indexed yet are read beside the index's matches, up to this many (a few seconds
# of a busy pool's events); beyond, the search walks as without the index.
TAIL_MAX = 20_000

_SQLITE_HAS = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n")
_PG_HAS = text("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :n")
# The candidates' rowids as one JSON array, built in SQLite: the index's matches and the rows
# written since the last indexing round, each read only up to its cap.
_SQLITE_RARE = text(
    f"WITH m AS MATERIALIZED (SELECT rowid AS r FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :p "
    "LIMIT :cap), t AS MATERIALIZED (SELECT rowid AS r FROM event_log "
    f"WHERE rowid > (SELECT upto FROM {INDEXED_TABLE}) LIMIT :tail) "
    "SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM t), "
    "(SELECT json_group_array(r) FROM (SELECT r FROM m UNION ALL SELECT r FROM t))"
)
# One indexing round, in one write transaction (the INSERT takes the write lock, so no row
# can join event_log between the two statements and both see the same rows).
_SQLITE_INDEX = (
    text(
        f"INSERT INTO {FTS_TABLE} (rowid, text) SELECT rowid, text FROM event_log "
        f"WHERE rowid > (SELECT upto FROM {INDEXED_TABLE}) ORDER BY rowid LIMIT :n"
    ),
    text(
        f"UPDATE {INDEXED_TABLE} SET upto = (SELECT coalesce(max(r), {INDEXED_TABLE}.upto) "
        f"FROM (SELECT rowid AS r FROM event_log WHERE rowid > {INDEXED_TABLE}.upto "
        "ORDER BY rowid LIMIT :n))"
    ),
)
_SQLITE_LAG = text(
    f"SELECT count(*) FROM event_log WHERE rowid > (SELECT upto FROM {INDEXED_TABLE})"
)


def outside_model(name: str | None, type_: str, _parents: Any = None) -> bool:
    """Alembic ``include_name``: False for the text index's objects, which the SQLAlchemy
    model cannot describe (a virtual table with its shadow tables and progress row, an
    operator-class index)."""
    if type_ == "table" and name is not None:
        return not (name.startswith(FTS_TABLE) or name == INDEXED_TABLE)
    return not (type_ == "index" and name == TRGM_INDEX)


def has_index(conn: Connection, dialect: str) -> bool:
    """Whether this database has the free-text index (migration 0007 made it)."""
    if dialect == "postgresql":
        return conn.execute(_PG_HAS, {"n": TRGM_INDEX}).first() is not None
    return conn.execute(_SQLITE_HAS, {"n": FTS_TABLE}).first() is not None


def fts_phrase(needle: str) -> str:
    """An FTS5 query for ``needle`` as one literal string: with the trigram tokenizer a
    quoted phrase matches it as a substring, and nothing in it is query syntax."""
    return '"' + needle.replace('"', '""') + '"'


def sqlite_rare_rowids(conn: Connection, needle: str) -> str | None:
    """The rowids (a JSON array) of the rows that may contain ``needle`` — the FTS index's
    matches (fewer than RARE_MAX) and the rows not indexed yet (fewer than TAIL_MAX) — else
    None: the text is common, too short to index, or too much is waiting to be indexed.
    Read once per search and handed to the page's statement: an FTS phrase with common
    trigrams costs ~20 ms at 5M rows, too much to run twice."""
    if len(needle) < TRIGRAM_MIN:
        return None
    args = {"p": fts_phrase(needle), "cap": RARE_MAX, "tail": TAIL_MAX}
    found, waiting, rowids = conn.execute(_SQLITE_RARE, args).one()
    return str(rowids) if int(found) < RARE_MAX and int(waiting) < TAIL_MAX else None


def sqlite_index_pending(conn: Connection, limit: int) -> int:
    """Index up to ``limit`` rows written since the last round; returns how many."""
    n = conn.execute(_SQLITE_INDEX[0], {"n": limit}).rowcount
    conn.execute(_SQLITE_INDEX[1], {"n": limit})
    return max(0, n)


def sqlite_lag(conn: Connection) -> int:
    """Rows written but not yet indexed (searches read them without the index)."""
    return int(conn.execute(_SQLITE_LAG).scalar_one())


def sqlite_candidates(rowids: str) -> ColumnElement[bool]:
    """event_log rows among ``rowids`` (from sqlite_rare_rowids)."""
    ids = text("SELECT value FROM json_each(:fts_rowids)")
    # unique: each merged per-NE arm of a page carries its own copy of this parameter
    ids = ids.bindparams(bindparam("fts_rowids", rowids, unique=True))
    return literal_column("event_log.rowid").in_(ids.columns(literal_column("value")))

"""Event log: a substring index for free text, and a covering index for counts.

Free text: SQLite gets an FTS5 table with the trigram tokenizer (SQLite >= 3.35) over
event_log.text as external content, filled here from the stored rows and then by the agents
shortly after rows are written; PostgreSQL a pg_trgm GIN index
when the extension is there or can be created (else the search keeps its scan and
`emspool doctor` says so). Counts: (time, severity, ne) answers counts by severity and NE over
a time range from the index alone. Both are filled from the rows already stored (the backfill
of an existing log is timed in docs/benchmarks.md).

The FTS rows are keyed by event_log's rowid: VACUUM keeps rowids, but a later migration that
rebuilds event_log (batch mode's copy-and-rename) renumbers them and drops the triggers, so it
must recreate the triggers, run the FTS 'rebuild' command again and reset
event_text_indexed.upto.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging
import sqlite3

from alembic import op
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

log = logging.getLogger(__name__)

# Rows reach the FTS index after they are written, not in the insert (agent/textsearch.py:
# an FTS5 trigram insert costs ~4x the row's own insert, and the outbox must keep its rate).
# event_text_indexed.upto is the highest event_log rowid indexed; the triggers keep rows at or
# below it in step when they are deleted or edited.
_SQLITE_UP = (
    "CREATE VIRTUAL TABLE event_log_fts USING fts5("
    "text, content='event_log', content_rowid='rowid', tokenize='trigram')",
    "CREATE TABLE event_text_indexed (upto INTEGER NOT NULL)",
    "CREATE TRIGGER event_log_fts_delete AFTER DELETE ON event_log "
    "WHEN old.rowid <= (SELECT upto FROM event_text_indexed) BEGIN "
    "INSERT INTO event_log_fts (event_log_fts, rowid, text) "
    "VALUES ('delete', old.rowid, old.text); END",
    "CREATE TRIGGER event_log_fts_update AFTER UPDATE OF text ON event_log "
    "WHEN old.rowid <= (SELECT upto FROM event_text_indexed) BEGIN "
    "INSERT INTO event_log_fts (event_log_fts, rowid, text) "
    "VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO event_log_fts (rowid, text) VALUES (new.rowid, new.text); END",
    "INSERT INTO event_log_fts (event_log_fts) VALUES ('rebuild')",
    "INSERT INTO event_text_indexed (upto) SELECT coalesce(max(rowid), 0) FROM event_log",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS event_log_fts_update",
    "DROP TRIGGER IF EXISTS event_log_fts_delete",
    "DROP TABLE IF EXISTS event_text_indexed",
    "DROP TABLE IF EXISTS event_log_fts",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # The trigram tokenizer came in 3.34, the search's MATERIALIZED CTEs in 3.35.
        if sqlite3.sqlite_version_info < (3, 35, 0):
            log.warning(
                "SQLite %s has no FTS5 trigram: free-text search scans", sqlite3.sqlite_version
            )
        else:
            for statement in _SQLITE_UP:
                op.execute(statement)
    else:
        try:
            # A savepoint: a refused CREATE EXTENSION must not abort the whole migration.
            with bind.begin_nested():
                bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        except sa_exc.DBAPIError as e:
            log.warning("pg_trgm not available (%s): free-text search scans", type(e).__name__)
        else:
            op.execute(
                "CREATE INDEX ix_event_log_text_trgm ON event_log USING gin (text gin_trgm_ops)"
            )
    op.create_index("ix_event_log_time_severity_ne", "event_log", ["time", "severity", "ne"])


def downgrade() -> None:
    op.drop_index("ix_event_log_time_severity_ne", table_name="event_log")
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_event_log_text_trgm")

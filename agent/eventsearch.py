"""The peered event-log service's SQL: filtered keyset pages and counts over event_log.

One job: turn a shared.eventquery.EventQuery into SQLAlchemy Core statements that use the
table's indexes — (time, id) for the keyset order, (ne, time) when NEs are named — and never
an OFFSET. A page for a few named NEs is the merge of each NE's own page (one (ne, time) index
range each, in order): one ``ne IN (...)`` range is not in time order, so the database would
read and sort every event of those NEs (550 ms for 10 NEs at 5M rows on SQLite, 25 ms merged;
bench/eventlog_5m.py). The top ``limit`` of the union of each NE's top ``limit`` is the top
``limit`` of all, so the rows are the same.

Free text is a case-insensitive substring match (LIKE on SQLite, whose LIKE is
case-insensitive for ASCII; ILIKE on PostgreSQL) with the wildcards in the user's text
escaped, so "50%" finds "50%" and not everything. With ``candidates`` (SQLite, a rare text: the
rowids the FTS trigram index gave, agent/textsearch.py) only those rows are read; the LIKE
still decides, so the rows are the same.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, union_all

from agent import textsearch
from shared.eventquery import Counts, Cursor, EventQuery
from shared.model import Severity
from shared.schema import event_log

_T = event_log

# Up to this many NEs a page is merged from per-NE pages; beyond, the arms cost more than
# the sort they save.
MERGE_NES_MAX = 64


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(
    q: Select[Any], query: EventQuery, dialect: str, candidates: str | None = None
) -> Select[Any]:
    t = _T
    if query.nes:
        q = (
            q.where(t.c.ne == query.nes[0])
            if len(query.nes) == 1
            else q.where(t.c.ne.in_(query.nes))
        )
    if query.since is not None:
        q = q.where(t.c.time >= query.since)
    if query.until is not None:
        q = q.where(t.c.time < query.until)
    if query.min_severity is not None:
        q = q.where(t.c.severity >= int(query.min_severity))
    if query.types:
        q = q.where(t.c.type.in_(query.types))
    if query.alarm_types:
        q = q.where(t.c.alarm_type.in_(query.alarm_types))
    if query.agents:
        q = q.where(t.c.agent.in_(query.agents))
    if query.text:
        pattern = f"%{_escape_like(query.text)}%"
        if dialect == "postgresql":
            q = q.where(t.c.text.ilike(pattern, escape="\\"))
        else:
            q = q.where(t.c.text.like(pattern, escape="\\"))
        if candidates is not None:
            q = q.where(textsearch.sqlite_candidates(candidates))
    return q


def page_statement(
    query: EventQuery,
    cursor: Cursor | None,
    limit: int,
    dialect: str,
    candidates: str | None = None,
) -> Select[Any]:
    """Rows of one page plus one more (to tell whether another page exists)."""
    nes = sorted(set(query.nes))  # a name given twice must not give its rows twice
    if not 1 < len(nes) <= MERGE_NES_MAX:
        return _page(query, cursor, limit, dialect, candidates)
    arms = [
        select(_page(replace(query, nes=(ne,)), cursor, limit, dialect, candidates).subquery())
        for ne in nes
    ]
    u = union_all(*arms).subquery()
    order = (
        (u.c.time.desc(), u.c.id.desc()) if query.newest_first else (u.c.time.asc(), u.c.id.asc())
    )
    return select(u).order_by(*order).limit(limit + 1)


def _page(
    query: EventQuery, cursor: Cursor | None, limit: int, dialect: str, candidates: str | None
) -> Select[Any]:
    t = _T
    q = _filtered(select(t), query, dialect, candidates)
    if query.newest_first:
        q = q.order_by(t.c.time.desc(), t.c.id.desc())
        if cursor is not None:
            # The plain bound beside the OR is redundant for the result but lets the
            # database start an (ne, time) range at the cursor: without it SQLite walks an
            # NE's events from the newest to the cursor (a deep page of 10 NEs at 5M rows
            # took 456 ms).
            q = q.where(
                t.c.time <= cursor.time,
                or_(t.c.time < cursor.time, and_(t.c.time == cursor.time, t.c.id < cursor.id)),
            )
    else:
        q = q.order_by(t.c.time.asc(), t.c.id.asc())
        if cursor is not None:
            q = q.where(
                t.c.time >= cursor.time,
                or_(t.c.time > cursor.time, and_(t.c.time == cursor.time, t.c.id > cursor.id)),
            )
    return q.limit(limit + 1)


def count_statement(query: EventQuery, dialect: str, candidates: str | None = None) -> Select[Any]:
    """Counts by (severity, NE) for the query's filters: one pass, which over a time range the
    (time, severity, ne) index answers alone; counts_from sums it both ways."""
    t = _T
    q = _filtered(select(t.c.severity, t.c.ne, func.count()), query, dialect, candidates)
    return q.group_by(t.c.severity, t.c.ne)


def counts_from(rows: list[Any]) -> Counts:
    by_severity: dict[str, int] = {}
    by_ne: dict[str, int] = {}
    for severity, ne, n in rows:
        label = Severity(int(severity)).label
        by_severity[label] = by_severity.get(label, 0) + int(n)
        by_ne[str(ne)] = by_ne.get(str(ne), 0) + int(n)
    return Counts(by_severity, by_ne, sum(by_severity.values()))

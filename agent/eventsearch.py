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


def count_statements(
    query: EventQuery, dialect: str, candidates: str | None = None
) -> list[Select[Any]]:
    """Statements whose rows, summed by counts_from, count by severity and by NE.

    Filtered by time and NEs only, two passes that each read an index alone: by severity
    over (time, severity, ne), by NE down (ne, time) in NE order. Any other filter needs a
    column those indexes lack for one of the two, so one pass grouped by (severity, NE) over
    (time, severity, ne) is cheaper: at 5M rows a day of critical events by NE took 144 ms
    down (ne, time) with a row look-up each, 6 ms as one pass (bench/eventlog_5m.py)."""
    t = _T

    def grouped(*columns: Any) -> Select[Any]:
        q = _filtered(select(*columns, func.count()), query, dialect, candidates)
        return q.group_by(*columns)

    q = query
    if q.min_severity is None and not (q.types or q.alarm_types or q.agents or q.text):
        return [grouped(t.c.severity), grouped(t.c.ne)]
    return [grouped(t.c.severity, t.c.ne)]


def counts_from(results: list[list[Any]]) -> Counts:
    by_severity: dict[str, int] = {}
    by_ne: dict[str, int] = {}
    for rows in results:
        for row in rows:
            keys, n = row._mapping, int(row[-1])
            if "severity" in keys:
                label = Severity(int(keys["severity"])).label
                by_severity[label] = by_severity.get(label, 0) + n
            if "ne" in keys:
                by_ne[str(keys["ne"])] = by_ne.get(str(keys["ne"]), 0) + n
    return Counts(by_severity, by_ne, sum(by_severity.values()))

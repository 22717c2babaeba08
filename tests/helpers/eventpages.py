"""Every match of an event query, page after page by the service's keyset cursor."""

from __future__ import annotations

from agent.db import Database
from shared.eventquery import EventQuery
from shared.model import Event


def all_pages(db: Database, q: EventQuery, limit: int) -> list[Event]:
    out: list[Event] = []
    cursor = None
    for _ in range(1000):  # bounded
        page = db.search_events(q, cursor=cursor, limit=limit)
        out += page.events
        cursor = page.next_cursor
        if cursor is None:
            return out
    raise AssertionError("paging does not end")

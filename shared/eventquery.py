"""Event-log queries as operators ask them: a validated filter, an order and an opaque
keyset cursor. Pure: the SQL lives in agent/eventsearch.py.

Paging is by keyset on (time, id), never OFFSET: page 10,000 of a million-row log costs what
page 1 costs, and rows written while an operator pages do not shift the pages. The cursor is
the (time, id) of the last row shown, plus the order, so a cursor cannot be replayed against
the other order by mistake.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import EmspoolError
from .model import Event, Severity

MAX_PAGE = 1000
MAX_NES = 1000
MAX_TEXT = 200


class QueryError(EmspoolError):
    """An event query that cannot be run as given (the message says which field)."""


@dataclass(frozen=True, slots=True)
class EventQuery:
    since: float | None = None  # inclusive
    until: float | None = None  # exclusive
    nes: tuple[str, ...] = ()
    min_severity: Severity | None = None
    types: tuple[str, ...] = ()  # event types (alarm-raised, trap, ...)
    alarm_types: tuple[str, ...] = ()  # link-down, ne-unreachable, ...
    agents: tuple[str, ...] = ()
    text: str = ""  # case-insensitive substring of the event text
    newest_first: bool = True

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise QueryError(f"{name}: not a finite time")
        if self.since is not None and self.until is not None and self.until < self.since:
            raise QueryError("until is before since")
        if len(self.nes) > MAX_NES:
            raise QueryError(f"nes: at most {MAX_NES} NEs in one query")
        if len(self.text) > MAX_TEXT:
            raise QueryError(f"text: at most {MAX_TEXT} characters")

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> EventQuery:
        """From a bus request's arguments; QueryError names the bad field."""
        known = {
            "since",
            "until",
            "ne",
            "nes",
            "min_severity",
            "types",
            "alarm_types",
            "agents",
            "text",
            "order",
            "cursor",
            "limit",
        }
        unknown = sorted(set(args) - known)
        if unknown:
            raise QueryError(f"unknown query field(s): {', '.join(unknown)}")
        nes = _strings(args.get("nes"), "nes")
        if args.get("ne"):
            nes = (*nes, _string(args["ne"], "ne"))
        order = args.get("order", "newest")
        if order not in ("newest", "oldest"):
            raise QueryError("order: 'newest' or 'oldest'")
        sev = args.get("min_severity")
        try:
            min_sev = Severity.parse(str(sev)) if sev not in (None, "") else None
        except ValueError as e:
            raise QueryError(f"min_severity: {e}") from None
        return cls(
            since=_time(args.get("since"), "since"),
            until=_time(args.get("until"), "until"),
            nes=nes,
            min_severity=min_sev,
            types=_strings(args.get("types"), "types"),
            alarm_types=_strings(args.get("alarm_types"), "alarm_types"),
            agents=_strings(args.get("agents"), "agents"),
            text=_string(args.get("text") or "", "text"),
            newest_first=order == "newest",
        )

    def to_args(self) -> dict[str, Any]:
        """The query as ``events.search``/``events.counts`` arguments (``from_args`` reads
        them back equal); fields left at their default are not sent."""
        out: dict[str, Any] = {"order": "newest" if self.newest_first else "oldest"}
        for name in ("since", "until"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("nes", "types", "alarm_types", "agents"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        if self.min_severity is not None:
            out["min_severity"] = self.min_severity.label
        if self.text:
            out["text"] = self.text
        return out


@dataclass(frozen=True, slots=True)
class Cursor:
    time: float
    id: str
    newest_first: bool

    def encode(self) -> str:
        raw = json.dumps([self.time, self.id, self.newest_first], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, query: EventQuery) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            t, rid, newest = json.loads(raw)
        except (ValueError, TypeError):
            raise QueryError("cursor: not a cursor this service gave out") from None
        if not isinstance(t, int | float) or not isinstance(rid, str) or newest not in (0, 1):
            raise QueryError("cursor: not a cursor this service gave out")
        if bool(newest) != query.newest_first:
            raise QueryError("cursor: made for the other order")
        return cls(float(t), rid, bool(newest))


@dataclass(frozen=True, slots=True)
class Page:
    events: list[Event]
    next_cursor: str | None  # None: this was the last page

    def to_dict(self) -> dict[str, object]:
        return {"events": [e.to_dict() for e in self.events], "next_cursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class Counts:
    by_severity: dict[str, int] = field(default_factory=dict)
    by_ne: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"by_severity": self.by_severity, "by_ne": self.by_ne, "total": self.total}


def page_of(rows: list[Event], limit: int, query: EventQuery) -> Page:
    """A page from ``limit + 1`` fetched rows: the extra one says whether more exist."""
    more = len(rows) > limit
    shown = rows[:limit]
    cursor = Cursor(shown[-1].time, shown[-1].id, query.newest_first).encode() if more else None
    return Page(shown, cursor)


def page_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise QueryError("limit: expected a number")
    try:
        n = int(value)
    except ValueError:
        raise QueryError("limit: expected a number") from None
    if not 1 <= n <= MAX_PAGE:
        raise QueryError(f"limit: 1 to {MAX_PAGE}")
    return n


def _time(v: object, name: str) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise QueryError(f"{name}: expected epoch seconds")
    return float(v)


def _string(v: object, name: str) -> str:
    if not isinstance(v, str):
        raise QueryError(f"{name}: expected a string")
    return v


def _strings(v: object, name: str) -> tuple[str, ...]:
    if v is None or v == "":
        return ()
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, Iterable) or isinstance(v, bytes | Mapping):
        raise QueryError(f"{name}: expected a list of strings")
    out = tuple(v)
    if not all(isinstance(x, str) and x for x in out):
        raise QueryError(f"{name}: expected a list of non-empty strings")
    return out

"""The event log view's state, without Qt: the filter as an ``events.search`` request
(peered: the same answer from any agent, keyset cursors, no OFFSET), the pages seen so far
(back and forth without asking again), and the CSV form of events.

An export walks the cursor from the first page on, at most ``EXPORT_MAX`` rows, so a
filter matching millions of rows costs a bounded number of requests and says it stopped.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

PAGE = 500  # rows a page (the agents allow up to 1,000)
EXPORT_PAGE = 1000
EXPORT_MAX = 200_000  # rows one CSV export writes at most

Event = Mapping[str, Any]


def _when(t: object) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t)))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return ""


# header -> how a cell shows; the CSV has the same columns plus the raw time and the id.
COLUMNS: dict[str, Callable[[Event], str]] = {
    "Time": lambda e: _when(e.get("time")),
    "Severity": lambda e: str(e.get("severity", "")).upper(),
    "NE": lambda e: str(e.get("ne", "")),
    "Type": lambda e: str(e.get("type", "")),
    "Object": lambda e: str(e.get("obj", "")),
    "Alarm type": lambda e: str(e.get("alarm_type", "")),
    "Text": lambda e: str(e.get("text", "")),
    "Agent": lambda e: str(e.get("agent", "")),
}

# Quick time ranges: label -> seconds back from now (None: the whole log).
RANGES: dict[str, float | None] = {
    "Last hour": 3600.0,
    "Last 24 hours": 86400.0,
    "Last 7 days": 7 * 86400.0,
    "Whole log": None,
}


@dataclass(frozen=True, slots=True)
class EventFilter:
    since: float | None = None
    until: float | None = None
    ne: str = ""
    min_severity: str = ""  # "" for any
    text: str = ""
    newest_first: bool = True

    def args(self) -> dict[str, Any]:
        """The ``events.search`` arguments (without cursor and limit)."""
        out: dict[str, Any] = {"order": "newest" if self.newest_first else "oldest"}
        if self.since is not None:
            out["since"] = self.since
        if self.until is not None:
            out["until"] = self.until
        if self.ne.strip():
            out["ne"] = self.ne.strip()
        if self.min_severity:
            out["min_severity"] = self.min_severity
        if self.text.strip():
            out["text"] = self.text.strip()
        return out


@dataclass(slots=True)
class EventPages:
    """Pages of one filter: ``pages[i]`` is (events, cursor of the page after it)."""

    filter: EventFilter = field(default_factory=EventFilter)
    pages: list[tuple[list[dict[str, Any]], str | None]] = field(default_factory=list)
    index: int = -1  # the page shown

    def start(self, f: EventFilter) -> dict[str, Any]:
        """A new search: forget the pages; the request for the first one."""
        self.filter, self.pages, self.index = f, [], -1
        return f.args() | {"limit": PAGE}

    def take(self, reply: Mapping[str, Any]) -> None:
        """An ``events.search`` reply for the page after the last one held."""
        events = [dict(e) for e in reply.get("events") or []]
        cursor = reply.get("next_cursor")
        self.pages.append((events, cursor if isinstance(cursor, str) else None))
        self.index = len(self.pages) - 1

    @property
    def shown(self) -> list[dict[str, Any]]:
        return self.pages[self.index][0] if 0 <= self.index < len(self.pages) else []

    def can_back(self) -> bool:
        return self.index > 0

    def can_forward(self) -> bool:
        if self.index < len(self.pages) - 1:
            return True
        return bool(self.pages) and self.pages[-1][1] is not None

    def back(self) -> None:
        if self.can_back():
            self.index -= 1

    def forward(self) -> dict[str, Any] | None:
        """Show the next page; the request to make when it is not held yet (else None)."""
        if self.index < len(self.pages) - 1:
            self.index += 1
            return None
        cursor = self.pages[-1][1] if self.pages else None
        if cursor is None:
            return None
        return self.filter.args() | {"limit": PAGE, "cursor": cursor}

    def position(self) -> str:
        if not self.pages:
            return "no search yet"
        first = sum(len(p[0]) for p in self.pages[: self.index]) + 1
        last = first + len(self.shown) - 1
        more = "" if self.can_forward() else " (end)"
        return f"page {self.index + 1}: rows {first:,}-{max(first, last):,}{more}"


CSV_HEADER = ["time_epoch", *COLUMNS, "id"]


def _cell(value: str) -> str:
    """Device text could start a spreadsheet formula (=, +, -, @): kept as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_row(e: Event) -> list[str]:
    cells = [_cell(show(e)) for show in COLUMNS.values()]
    return [str(e.get("time", "")), *cells, str(e.get("id", ""))]


def write_csv(out: IO[str], events: Iterable[Event], header: bool) -> int:
    w = csv.writer(out)
    if header:
        w.writerow(CSV_HEADER)
    n = 0
    for e in events:
        w.writerow(csv_row(e))
        n += 1
    return n

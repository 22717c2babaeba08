"""The alarm browser's state without Qt: the pool's standing alarms as rows, filtered
(``shared.federated.AlarmFilter``, the same filter the agents apply to ``pool.alarms``),
sorted by any column, with the severity counts the summary bar shows.

``AlarmList`` is fed and computed on a worker thread (console/rowsworker.py); what it
computes, ``Rows``, never changes after, so the Qt table model (console/alarmtable.py)
reads it on the GUI thread without locks. Unit-tested without a display.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.alarmpage import item_key
from shared.alarmview import key_of
from shared.federated import AlarmFilter
from shared.model import AlarmKey, Severity

Alarm = dict[str, Any]

# Worst first in the summary bar; "cleared" never stands, so it has no count.
SEVERITIES = tuple(s.label for s in sorted(Severity, reverse=True) if s is not Severity.CLEARED)


SLICE = 4096  # rows sorted at once (see sliced_sort)


def sliced_sort(items: list[Alarm], key: Callable[[Alarm], Any], reverse: bool) -> list[Alarm]:
    """``sorted(items, key=key, reverse=reverse)``, stable like it, but in slices merged
    afterwards: a list's sort holds the GIL from start to end (50,000 alarms: tens of ms
    on a quiet machine, hundreds on a busy one), and the GUI thread needs it meanwhile."""
    if len(items) <= SLICE:
        return sorted(items, key=key, reverse=reverse)
    runs = [sorted(items[i : i + SLICE], key=key, reverse=reverse)
            for i in range(0, len(items), SLICE)]  # fmt: skip
    return list(heapq.merge(*runs, key=key, reverse=reverse))  # ties: the earlier run first


def when(ts: object) -> str:
    if not isinstance(ts, int | float) or not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _rank(a: Mapping[str, Any]) -> int:
    try:
        return int(Severity.parse(str(a.get("severity") or "indeterminate")))
    except ValueError:
        return int(Severity.INDETERMINATE)


def _num(field: str) -> Callable[[Mapping[str, Any]], float]:
    return lambda a: float(a.get(field) or 0.0)


def _text(field: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda a: str(a.get(field) or "").casefold()


def last_note_line(a: Mapping[str, Any]) -> str:
    """The notes cell: how many, and the newest one ("2: splice crew on site (carol)")."""
    n, last = a.get("note_count") or 0, a.get("last_note")
    if not n or not isinstance(last, Mapping):
        return ""
    return f"{n}: {last.get('text', '')} ({last.get('user', '?')})"


@dataclass(frozen=True, slots=True)
class Column:
    field: str
    title: str
    show: Callable[[Mapping[str, Any]], str]
    order: Callable[[Mapping[str, Any]], Any]


def _shown(field: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda a: str(a.get(field) or "")


COLUMNS: tuple[Column, ...] = (
    Column("severity", "Severity", _shown("severity"), _rank),
    Column("ne", "NE", _shown("ne"), _text("ne")),
    Column("obj", "Object", _shown("obj"), _text("obj")),
    Column("type", "Type", _shown("type"), _text("type")),
    Column("text", "Text", _shown("text"), _text("text")),
    Column("raised_at", "Raised", lambda a: when(a.get("raised_at")), _num("raised_at")),
    Column("last_seen", "Last seen", lambda a: when(a.get("last_seen")), _num("last_seen")),
    Column("count", "Count", lambda a: str(a.get("count") or 0), _num("count")),
    Column("acked_by", "Ack", _shown("acked_by"), _text("acked_by")),
    Column("note_count", "Notes", lambda a: last_note_line(a), _num("note_count")),
    Column("agent", "Agent", _shown("agent"), _text("agent")),
)
COLUMN_INDEX = {c.field: i for i, c in enumerate(COLUMNS)}
_EVERYTHING = AlarmFilter()


@dataclass(frozen=True, slots=True)
class Summary:
    """Standing alarms of the whole pool (not only the shown ones) by severity."""

    total: int
    shown: int
    by_severity: dict[str, int]
    unacked: dict[str, int]


@dataclass(frozen=True, slots=True)
class Rows:
    """One computed state of the browser, read by the Qt model (never changed after)."""

    rows: list[Alarm]
    standing: list[Alarm]  # every standing alarm of the pool, shown or not, worst first
    summary: Summary
    nes: list[str]
    agents: list[str]
    version: int = 0  # of the list that made it: later ones replace earlier ones

    def __len__(self) -> int:
        return len(self.rows)

    def cell(self, row: int, column: int) -> str:
        return COLUMNS[column].show(self.rows[row])

    def key(self, row: int) -> AlarmKey:
        return key_of(self.rows[row])

    def row_of(self, key: AlarmKey) -> int | None:
        """A scan, not an index: only the selection asks, for a few keys, while an index of
        50,000 keys would be built for every computation (and its allocations make the
        garbage collector stop every thread, the GUI's too)."""
        want = (key.ne, key.obj, key.type)
        for i, a in enumerate(self.rows):
            if _key(a) == want:
                return i
        return None

    def severity(self, row: int) -> str:
        return str(self.rows[row].get("severity") or "indeterminate")


EMPTY = Rows([], [], Summary(0, 0, dict.fromkeys(SEVERITIES, 0), {}), [], [])


class AlarmList:
    """The pool's standing alarms by key, kept by ``replace`` (a whole set) and ``apply``
    (what changed), with the browser's filter and sort; ``rows()`` computes the ``Rows``
    to show. It is the alarm browser's worker thread that calls all of this (50,000 alarms
    take a sort that must not run on the GUI thread)."""

    def __init__(self) -> None:
        # By (ne, obj, type): plain tuples of strings, which the garbage collector soon
        # stops tracking (50,000 AlarmKey objects would be scanned at every collection).
        self._by_key: dict[tuple[str, str, str], Alarm] = {}
        self.filter = AlarmFilter()
        self.sort_column = COLUMN_INDEX["severity"]
        self.descending = True
        self.version = 0

    # -- input ----------------------------------------------------------------------------
    def replace(self, items: Iterable[Mapping[str, Any]]) -> None:
        """The pool's standing alarms as they are now (``pool.alarms`` items)."""
        self._by_key = {}
        self.apply(items, ())

    def apply(self, changed: Iterable[Mapping[str, Any]], removed: Iterable[AlarmKey]) -> None:
        """Alarms raised or changed (whole items), and the keys of those that cleared."""
        for k in removed:
            self._by_key.pop((k.ne, k.obj, k.type), None)
        for a in changed:
            if a.get("active", True):
                d = dict(a)
                d["active"] = True  # an item without the flag stands: the filter asks
                self._by_key[_key(d)] = d
            else:
                self._by_key.pop(_key(a), None)
        self.version += 1

    def set_filter(self, f: AlarmFilter) -> None:
        self.filter = f
        self.version += 1

    def sort(self, column: int, descending: bool) -> None:
        if not 0 <= column < len(COLUMNS):
            raise IndexError(f"no column {column}")
        self.sort_column, self.descending = column, descending
        self.version += 1

    # -- output ---------------------------------------------------------------------------
    def rows(self) -> Rows:
        # Worst first: the tie-break of every other order.
        standing = sliced_sort(list(self._by_key.values()), item_key, reverse=False)
        f = self.filter
        if f == _EVERYTHING:
            rows = list(standing)
        else:  # (the agents apply the agent filter by not answering: here it is per row)
            rows = [
                a for a in standing if f.matches(a) and f.wants_agent(str(a.get("agent") or ""))
            ]
        col = COLUMNS[self.sort_column]
        if col.field != "severity" or not self.descending:
            rows = sliced_sort(rows, col.order, self.descending)  # stable: ties stay worst first
        return Rows(
            rows=rows,
            standing=standing,
            summary=_summary(standing, len(rows)),
            nes=sorted({str(a.get("ne") or "") for a in standing} - {""}),
            agents=sorted({str(a.get("agent") or "") for a in standing} - {""}),
            version=self.version,
        )


def _key(a: Mapping[str, Any]) -> tuple[str, str, str]:
    k = key_of(a)  # the one reading of an alarm's key (items say "type", events "alarm_type")
    return (k.ne, k.obj, k.type)


def _summary(standing: list[Alarm], shown: int) -> Summary:
    by = dict.fromkeys(SEVERITIES, 0)
    unacked = dict.fromkeys(SEVERITIES, 0)
    for a in standing:
        sev = str(a.get("severity") or "indeterminate")
        by[sev] = by.get(sev, 0) + 1
        if not a.get("acked_by"):
            unacked[sev] = unacked.get(sev, 0) + 1
    return Summary(len(standing), shown, by, unacked)


def filter_of(
    *,
    min_severity: str = "indeterminate",
    ne: str = "",
    agent: str = "",
    text: str = "",
    acked: str = "any",
) -> AlarmFilter:
    """The browser's filter bar as an ``AlarmFilter`` (empty NE/agent: all of them)."""
    return AlarmFilter.from_args(
        {"min_severity": min_severity, "ne": ne, "agent": agent, "text": text, "acked": acked}
    )

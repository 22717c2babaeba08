"""Paging of the federated alarm list (``pool.alarms``): the alarms' one order, their key
and the rows members snapshot. The paging itself (member snapshot generations, the merge
under a keyset cursor, the client's pages, why it is exact) is shared with
``pool.ne_states`` and lives in shared/fedpage.py; ``ALARMS`` is this list's ``Kind``.
Pure: no clock, no I/O.

The alarms' order, a total and stable key (``Key``): worst first, then the most recently
seen, then NE, object, type and owning agent, which is unique. A snapshot of the live set
cut at moving keyset positions would lose an alarm whose ``last_seen`` moved it behind the
cursor: hence the snapshots (``shared/alarmview.py`` relies on each member's part being
its set at one instant, taken after the client began buffering live events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from .alarms import Alarm
from .fedpage import (
    SNAPSHOT_TTL,
    SNAPSHOTS_KEPT,
    Generations,
    Kind,
    Merge,
    PageError,
    Pages,
    PartPage,
    Snapshot,
    first_of,
    part_page,
)
from .model import Severity
from .notes import preview

__all__ = [
    "ALARMS",
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "SNAPSHOTS_KEPT",
    "SNAPSHOT_TTL",
    "AlarmItem",
    "EntryCache",
    "Generations",
    "Merge",
    "PageError",
    "Pages",
    "PartPage",
    "Revised",
    "Snapshot",
    "alarm_entry",
    "item_key",
    "page_limit",
    "parse_key",
    "part_page",
]

DEFAULT_PAGE = 5000
MAX_PAGE = 10_000  # 10,000 ordinary alarms stay well under the bus's 4 MiB

# The merged order, as a tuple that sorts natively: worst first (negated severity), then
# the most recently seen (negated last_seen), then NE, object, type and owning agent,
# which make it unique.
Key = tuple[int, float, str, str, str, str]
Entry = tuple[Key, Any]  # an alarm's key and the alarm (an object, or unparsed JSON)


def item_key(d: Mapping[str, Any]) -> Key:
    """The key of an alarm as an object (``pool.alarms`` item, ``Alarm.to_dict``)."""
    return (
        -_RANK.get(str(d.get("severity", "indeterminate")), 1),
        -float(d.get("last_seen") or 0.0),
        str(d.get("ne", "")),
        str(d.get("obj", "")),
        str(d.get("type", "")),
        str(d.get("agent", "")),
    )


_RANK = {s.label: int(s) for s in Severity}


def page_limit(args: Mapping[str, Any]) -> int:
    return ALARMS.limit(args)


def parse_key(raw: Any) -> Key:
    ok = isinstance(raw, list | tuple) and len(raw) == 6
    if ok:
        ok = isinstance(raw[0], int) and isinstance(raw[1], int | float)
        ok = ok and all(isinstance(x, str) for x in raw[2:])
    if not ok:
        raise PageError("after: expected an alarm's key")
    return (int(raw[0]), float(raw[1]), raw[2], raw[3], raw[4], raw[5])


class NoteItem(msgspec.Struct):
    time: float
    user: str
    text: str
    number: int


class AlarmItem(msgspec.Struct, omit_defaults=True):
    """One alarm of ``pool.alarms`` as a member encodes it (an object on the wire, the
    fields of ``Alarm.to_dict`` and the owning agent): cheaper to make and to encode than a
    dict, and clients read it back as the same object.

    Of the notes only the count and the newest travel here, its text cut to a preview
    (``shared.notes.preview``), and nothing when there are none: a page holds thousands of
    alarms under the bus's cap, and a note may be 1,000 characters. The owner gives them
    all in full (``Alarm.to_dict``, ``pool.ne_detail``)."""

    ne: str
    obj: str
    type: str
    severity: str
    text: str
    active: bool
    count: int
    first_seen: float
    last_seen: float
    raised_at: float
    cleared_at: float | None
    acked_by: str | None
    acked_at: float | None
    agent: str
    note_count: int = 0
    last_note: NoteItem | None = None


_LABEL = {s: s.label for s in Severity}


def alarm_entry(a: Alarm, agent: str) -> Entry:
    """An agent's own alarm as a snapshot entry: its key and its item."""
    k = a.key
    item = AlarmItem(
        k.ne, k.obj, k.type, _LABEL[a.severity], a.text, a.cleared_at is None, a.count,
        a.first_seen, a.last_seen, a.raised_at, a.cleared_at, a.acked_by, a.acked_at, agent,
    )  # fmt: skip
    if a.notes:
        n = a.notes[-1]
        last = NoteItem(n.time, n.user, preview(n.text), n.number)
        item.note_count, item.last_note = a.note_count, last
    return (-int(a.severity), -a.last_seen, k.ne, k.obj, k.type, agent), item


_ITEM = msgspec.json.Encoder()


def encoded_entry(a: Alarm, agent: str) -> Entry:
    """``alarm_entry`` with the item already encoded (``msgspec.Raw``): what ``EntryCache``
    keeps, so that a page's items are copied onto the wire, not encoded again."""
    key, item = alarm_entry(a, agent)
    return key, msgspec.Raw(_ITEM.encode(item))


class Revised(Protocol):
    """What ``EntryCache`` reads of an agent's alarms (``shared.alarms.AlarmStore``)."""

    revision: int

    def nes(self) -> list[str]: ...

    def revision_of(self, ne: str) -> int: ...

    def for_ne(self, ne: str) -> list[Alarm]: ...


class EntryCache:
    """One agent's active alarms as snapshot entries for the full list, kept between
    snapshots: an NE's entries are made again only when the store says that NE changed
    (``AlarmStore.revision_of``: every change moves it, notes included), the sorted list of
    the last snapshot is reused while nothing changed at all, and otherwise has only the
    changed NEs' entries taken out and put back in (a merge of a long sorted run with a
    short one, not a sort of every entry). Entries are immutable (an encoded item), so
    snapshots share them and stay exact. A poll changes a few NEs a second, so a walk no
    longer costs a member a row per alarm (docs/benchmarks.md, F1)."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self._by_ne: dict[str, tuple[int, list[Entry]]] = {}
        self._entries: list[Entry] = []  # sorted, of the revision below
        self._revision = -1
        self._sorted: tuple[list[Any], list[Any]] = ([], [])
        self.rebuilt = 0  # NEs whose entries were made again (for tests and benchmarks)

    def sorted(self, store: Revised) -> tuple[list[Any], list[Any]]:
        """The keys and items of every active alarm in ``store`` now, in the merged order
        (lists shared with the snapshots: never to be changed)."""
        rev = store.revision
        if rev == self._revision:
            return self._sorted
        kept, fresh = self._by_ne, {}
        stale: list[Entry] = []
        new: list[Entry] = []
        agent = self.agent
        for ne in store.nes():
            ne_rev = store.revision_of(ne)
            mine = kept.pop(ne, None)
            if mine is None or mine[0] != ne_rev:
                if mine is not None:
                    stale += mine[1]
                rows = [encoded_entry(a, agent) for a in store.for_ne(ne) if a.cleared_at is None]
                mine = (ne_rev, rows)
                new += rows
                self.rebuilt += 1
            fresh[ne] = mine
        for _, rows in kept.values():  # NEs gone from the store
            stale += rows
        self._by_ne = fresh
        if len(stale) * 2 > len(self._entries):
            entries = [e for _, rows in fresh.values() for e in rows]
        else:
            gone = {id(e) for e in stale}  # the old entries are alive: ids are unique
            entries = [e for e in self._entries if id(e) not in gone]
            entries += new
        entries.sort(key=first_of)  # timsort: the kept entries are one sorted run
        self._entries, self._revision = entries, rev
        self._sorted = ([k for k, _ in entries], [i for _, i in entries])
        return self._sorted


ALARMS = Kind(
    op="pool.alarms",
    part_op="alarms.page",
    default_page=DEFAULT_PAGE,
    max_page=MAX_PAGE,
    parse_key=parse_key,
    part_type=PartPage[Key],
    noun="alarms",
)

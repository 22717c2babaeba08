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
from typing import Any

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
    "Generations",
    "Merge",
    "PageError",
    "Pages",
    "PartPage",
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


ALARMS = Kind(
    op="pool.alarms",
    part_op="alarms.page",
    default_page=DEFAULT_PAGE,
    max_page=MAX_PAGE,
    parse_key=parse_key,
    part_type=PartPage[Key],
    noun="alarms",
)

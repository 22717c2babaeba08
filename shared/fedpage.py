"""Paging of a federated list (``pool.alarms``, ``pool.ne_states``): member snapshot
generations, the federating agent's merge of the members' sorted pages under a keyset
cursor, and the client putting the pages back together. Pure: no clock (callers pass
``now``), no I/O.

Why pages: the bus caps a message at 4 MiB, and one agent alone may hold more than that of
a list (12,000 alarms; 5,000 NE states are about 3.3 MB). So both hops are paged: a member
gives its part in pages to the agent that received the request (the *federating* agent),
and that agent gives the merged list to the client in pages.

How a snapshot taken in pages stays exact:

- **Per-member snapshot generations.** The first page request a member gets takes a
  snapshot of its (filtered) rows, sorted, and keeps it under a generation id
  (``Generations``: a short idle TTL, a few generations at most). Later pages of that
  generation are cut from the snapshot, never from the live state, so a member's part is
  exactly its set at one instant (what shared/alarmview.py relies on for alarms).
- **Keyset cursor over the merged order.** Every row has a total, stable key, a tuple
  whose **last element is the node id of the member that holds the row** (so the merge
  knows whose row a key is, and keys of two members never tie). The client's cursor names
  the federation generation, each member's generation and the key of the last row given.
  The federating agent keeps the rows it fetched but has not given yet (``Merge``) to
  avoid fetching twice; if that state is gone (expired, or the next page is asked of
  another agent) it is rebuilt from the cursor alone. A retried page is answered again,
  the same (also with a smaller ``limit``: the cursor does not depend on it).
- **Missing members stay named.** A member that does not answer a page is named missing
  with the reason from then on and the answer is partial; the rows it had given stay. A
  member whose generation expired answers ``expired``, and the client starts over.

What crosses the bus: a member's page is ``keys`` (each row's sort key, an array) beside
``items`` (the rows as objects). The federating agent parses only the keys (``PartPage``,
typed by the list's ``Kind``) and merges them; the items stay unparsed JSON
(``msgspec.Raw``) and are spliced into the client's page as they came, so that agent
builds no Python object per row (docs/benchmarks.md: that was most of its time).

What is particular to one list is its ``Kind``: its op names, page sizes and how a key is
read back from a cursor (shared/alarmpage.py for alarms, ``NE_STATES`` here).
"""

from __future__ import annotations

import base64
import json
import operator
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgspec

SNAPSHOT_TTL = 30.0  # seconds a generation is kept after its last page was asked
SNAPSHOTS_KEPT = 8  # generations kept at once per agent (the oldest goes first)

Key = tuple[Any, ...]  # sorts natively; the last element is the holding member's node id
Entry = tuple[Key, Any]  # a row's key and the row (an object, or unparsed JSON)
K = TypeVar("K")


class PageError(ValueError):
    """A page request or a page is malformed (the message says what)."""


@dataclass(frozen=True, slots=True)
class Kind:
    """One paged federated list: ``op`` the client asks, ``part_op`` a member is asked
    for its part (agents only), its page sizes, ``parse_key`` (a key from its JSON form,
    PageError if malformed) and ``part_type`` (a member's page as msgspec decodes it)."""

    op: str
    part_op: str
    default_page: int
    max_page: int
    parse_key: Callable[[Any], Key]
    part_type: Any
    noun: str = "rows"

    def limit(self, args: Mapping[str, Any]) -> int:
        raw = args.get("limit", self.default_page)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw <= self.max_page:
            raise PageError(f"limit: expected a page size in 1..{self.max_page}")
        return raw


class PartPage(msgspec.Struct, Generic[K], frozen=True):
    """A member's page of its part, as the federating agent reads it: typed keys, items
    left as they came."""

    gen: str
    keys: list[K]
    items: list[msgspec.Raw]
    more: bool = False
    total: int = 0


# -- one agent's own part: snapshot generations -------------------------------------------
@dataclass(slots=True)
class Snapshot:
    gen: str
    keys: list[Key]  # sorted
    items: list[Any]  # the row of each key
    used: float = 0.0

    @classmethod
    def of(cls, gen: str, entries: Iterable[Entry], now: float) -> Snapshot:
        ordered = sorted(entries, key=first_of)
        return cls(gen, [k for k, _ in ordered], [i for _, i in ordered], now)

    def page(self, after: Key | None, limit: int) -> tuple[list[Key], list[Any], bool]:
        """Up to ``limit`` keys and items after the key (from the start without one); and
        whether more follow."""
        start = 0 if after is None else bisect_right(self.keys, after)
        end = start + limit
        return self.keys[start:end], self.items[start:end], end < len(self.keys)


# An entry's key, called in C by sort (a Python function here was a tenth of a walk's CPU).
first_of: Callable[[Entry], Key] = operator.itemgetter(0)
_member: Callable[[Key], str] = operator.itemgetter(-1)  # the member a key names


class _Used(Protocol):
    used: float


T = TypeVar("T", bound=_Used)


class Generations(Generic[T]):
    """What one agent keeps by generation id for a while (its snapshots, its merges): each
    goes ``ttl`` seconds after it was last used, the oldest first beyond ``kept``."""

    def __init__(self, ttl: float = SNAPSHOT_TTL, kept: int = SNAPSHOTS_KEPT) -> None:
        self.ttl = ttl
        self.kept = kept
        self._items: OrderedDict[str, T] = OrderedDict()
        self.stored = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, gen: object) -> bool:
        return gen in self._items

    def put(self, gen: str, item: T, now: float) -> T:
        self.expire(now)
        item.used = now
        self._items[gen] = item
        self._items.move_to_end(gen)
        while len(self._items) > self.kept:
            self._items.popitem(last=False)
        self.stored += 1
        return item

    def get(self, gen: str, now: float) -> T | None:
        self.expire(now)
        item = self._items.get(gen)
        if item is not None:
            item.used = now
            self._items.move_to_end(gen)
        return item

    def pop(self, gen: str, now: float) -> T | None:
        self.expire(now)
        return self._items.pop(gen, None)

    def expire(self, now: float) -> None:
        for gen in [g for g, s in self._items.items() if now - s.used > self.ttl]:
            del self._items[gen]


def part_page(snap: Snapshot, after: Key | None, limit: int) -> PartPage[Key]:
    """A member's answer to one page request of its part (the bus encodes it)."""
    keys, items, more = snap.page(after, limit)
    return PartPage(gen=snap.gen, keys=keys, items=items, more=more, total=len(snap.keys))


# -- the federating agent: merging the members' pages --------------------------------------
@dataclass(slots=True)
class Merge:
    """The federating agent's state of one generation: each member's generation and the
    rows it gave that are not yet in a page. A cache: ``from_cursor`` rebuilds it."""

    gen: str
    members: dict[str, str] = field(default_factory=dict)  # node -> its generation
    missing: dict[str, str] = field(default_factory=dict)  # node -> why it has no (more) part
    total: dict[str, int] = field(default_factory=dict)  # node -> rows in its generation
    last: Key | None = None  # the key of the last row given to the client
    used: float = 0.0
    # What each member gave and no page holds yet: keys, and their items beside them.
    _keys: dict[str, list[Key]] = field(default_factory=dict)
    _items: dict[str, list[Any]] = field(default_factory=dict)
    _more: dict[str, bool] = field(default_factory=dict)

    @property
    def answered(self) -> list[str]:
        return sorted(n for n in self.members if n not in self.missing)

    def wanted(self, limit: int) -> dict[str, dict[str, Any]]:
        """The page request for each member whose buffered rows may not cover the next
        page of ``limit`` rows (node -> args). Members not asked yet start a generation."""
        asks: dict[str, dict[str, Any]] = {}
        for node, gen in self.members.items():
            if node in self.missing:
                continue
            buf = self._keys.get(node)
            if buf is None:  # never asked in this state: from the cursor's key
                args: dict[str, Any] = {"limit": limit}
                if gen:
                    args["gen"] = gen
                if self.last is not None:
                    args["after"] = list(self.last)
                asks[node] = args
            elif len(buf) < limit and self._more.get(node):
                # After its last buffered row; with none left, after the last row given
                # (every row of it before that key has been given).
                after = buf[-1] if buf else self.last
                asks[node] = {"gen": gen, "limit": limit}
                if after is not None:
                    asks[node]["after"] = list(after)
        return asks

    def feed(self, node: str, page: PartPage[Any]) -> None:
        """A member's page; one that does not fit names the member missing."""
        if self.members.get(node) not in ("", page.gen):
            self.fail(node, "answered from another generation")
            return
        keys: list[Key] = page.keys
        if len(keys) != len(page.items) or not set(map(_member, keys)) <= {node}:
            self.fail(node, "malformed answer")
            return
        self.members[node] = page.gen
        self._keys.setdefault(node, []).extend(keys)
        self._items.setdefault(node, []).extend(page.items)
        self._more[node] = page.more
        self.total[node] = page.total

    def fail(self, node: str, why: str) -> None:
        self.missing[node] = why
        self._keys.pop(node, None)
        self._items.pop(node, None)
        self._more[node] = False

    def take(self, limit: int) -> list[Any]:
        """The next page: the items of the ``limit`` first keys of the merged, already
        sorted buffers. Keys are unique (they name the member), so the page ends at the
        ``limit``-th smallest key: found by bisection (``nth_key``), each buffer is cut
        there and only those rows are sorted (a few sorted runs: C, not a Python merge
        per row)."""
        live = [n for n, b in self._keys.items() if b and n not in self.missing]
        if not live:
            return []
        bufs = [self._keys[n] for n in live]
        last = nth_key(bufs, limit)
        pairs: list[Entry] = []
        cuts = [bisect_right(b, last) for b in bufs]
        for n, cut in zip(live, cuts, strict=True):
            keys, items = self._keys[n], self._items[n]
            pairs += zip(keys[:cut], items[:cut], strict=True)
            del keys[:cut], items[:cut]
        if len(live) > 1:
            pairs.sort(key=first_of)
        self.last = last
        return [i for _, i in pairs]

    @property
    def done(self) -> bool:
        return not any(
            (self._keys.get(n) or self._more.get(n, True))
            for n in self.members
            if n not in self.missing
        )

    def cursor(self) -> str | None:
        """What the client sends for the next page; None after the last one."""
        if self.done:
            return None
        body = {
            "g": self.gen,
            "m": {n: g for n, g in self.members.items() if n not in self.missing},
            "x": self.missing,
            "t": self.total,
            "a": list(self.last) if self.last is not None else None,
        }
        return base64.urlsafe_b64encode(json.dumps(body).encode()).decode("ascii")

    @classmethod
    def from_cursor(cls, cursor: str, now: float, kind: Kind) -> Merge:
        not_one = f"cursor: not a cursor of {kind.op}"
        try:
            body = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        except (ValueError, UnicodeError):
            raise PageError(not_one) from None
        ok = isinstance(body, dict) and isinstance(body.get("g"), str)
        members, missing, total = (body.get(k) if ok else None for k in ("m", "x", "t"))
        ok = ok and isinstance(members, dict) and isinstance(missing, dict)
        ok = ok and isinstance(total, dict)
        if not ok:
            raise PageError(not_one)
        last = body.get("a")
        return cls(
            gen=body["g"],
            members={str(k): str(v) for k, v in members.items()},  # type: ignore[union-attr]
            missing={str(k): str(v) for k, v in missing.items()},  # type: ignore[union-attr]
            total={str(k): int(v) for k, v in total.items()},  # type: ignore[union-attr]
            last=None if last is None else kind.parse_key(last),
            used=now,
        )


def nth_key(bufs: list[list[Key]], n: int) -> Key:
    """The ``n``-th smallest key of sorted lists of unique keys (the largest if they hold
    fewer): the one whose rank, the keys at or before it in every list, is ``n``."""
    if sum(len(b) for b in bufs) <= n:
        return max(b[-1] for b in bufs)
    for b in bufs:
        lo, hi = 0, min(len(b), n)  # the n-th key is among each list's first n
        while lo < hi:
            mid = (lo + hi) // 2
            rank = sum(bisect_right(o, b[mid]) for o in bufs)
            if rank == n:
                return b[mid]
            if rank < n:
                lo = mid + 1
            else:
                hi = mid
    raise AssertionError("no n-th key: the lists are not sorted or not unique")


# -- the client: following the pages -------------------------------------------------------
@dataclass(slots=True)
class Pages:
    """The pages of one generation as a client receives them, put back into one reply."""

    op: str = "pool.alarms"
    items: list[dict[str, Any]] = field(default_factory=list)
    snapshot: str = ""
    count: int = 0
    last: Mapping[str, Any] = field(default_factory=dict)

    def add(self, reply: Mapping[str, Any]) -> str | None:
        """One page; returns the cursor of the next one (None: that was the last)."""
        items = reply.get("items")
        if not isinstance(items, list):
            raise PageError(f"{self.op} reply without items")
        snap = str(reply.get("snapshot") or "")
        if self.count and snap != self.snapshot:
            raise PageError(f"{self.op} pages of different snapshots")
        self.snapshot = snap
        self.items += items
        self.count += 1
        self.last = reply
        nxt = reply.get("next")
        return nxt if isinstance(nxt, str) and nxt else None

    def reply(self) -> dict[str, Any]:
        """The whole answer, shaped like one page (``answered``/``missing`` of the last
        page: they are cumulative over the generation)."""
        return dict(self.last) | {"items": self.items, "next": None, "pages": self.count}


# -- the NE states of pool.ne_states ------------------------------------------------------
NeKey = tuple[str, str]  # NE name, then the agent polling it (unique: one state per agent)


def _ne_key(raw: Any) -> Key:
    if not (
        isinstance(raw, list | tuple) and len(raw) == 2 and all(isinstance(x, str) for x in raw)
    ):
        raise PageError("after: expected an NE state's key")
    return (raw[0], raw[1])


def ne_state_entry(state: Mapping[str, Any], agent: str) -> Entry:
    """An agent's own NE state (``NeState.summary()``) as a snapshot entry."""
    return (str(state.get("name", "")), agent), dict(state) | {"agent": agent}


# About 0.6 kB an NE state with 4 LLDP neighbours (more with many): a default page is
# about 0.3 MB, the largest 1.2 MB, well under the bus's 4 MiB even for NEs with dozens.
NE_STATES = Kind(
    op="pool.ne_states",
    part_op="ne_states.page",
    default_page=500,
    max_page=2000,
    parse_key=_ne_key,
    part_type=PartPage[NeKey],
    noun="NE states",
)

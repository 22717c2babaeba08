"""The federated service: answers from every live agent's memory, merged by the agent that
received the request.

Each ``pool.*`` request is answered by asking this agent's own part directly and every other
live member's part over the bus (``Peers.gather``: in parallel, one deadline), then merging
with shared/federated.py. The reply always says which agents answered and which did not
and why, so a dead or slow agent costs at most the deadline and a partial answer says so.
Acknowledgements and notes on alarms are routed to the agent that owns the NE.

``pool.alarms`` and ``pool.ne_states`` are paged on both hops (the bus caps a message at
4 MiB): each member keeps a snapshot generation of its part and gives it in pages
(``Parts``), and this agent merges the members' already sorted pages into the client's
pages under a keyset cursor (``Federation.paged``); why that is exact is in
shared/fedpage.py. Once a page is answered, the members are asked at once for the rows
the next one will need (``Federation.ahead``), so that the next page, when the client has
read this one, waits for no member; a prefetch fails as the page itself would (a member
named missing, or ``expired``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec

from agent.aiotools import with_deadline
from agent.peers import PeerError, Peers, PeerTimeout
from shared.alarmpage import ALARMS, EntryCache, Revised, alarm_entry
from shared.alarms import Alarm
from shared.errors import Expired, NotFound
from shared.federated import AlarmFilter, Merged, merge_lists
from shared.fedpage import (
    NE_STATES,
    Entry,
    Generations,
    Kind,
    Merge,
    PartPage,
    Snapshot,
    ne_state_entry,
    part_page,
)
from shared.wire import ErrorCode

Local = Callable[[dict[str, Any]], Awaitable[Any]]

DEFAULT_DEADLINE = 2.0
MAX_DEADLINE = 10.0
_EVERY_ACTIVE = AlarmFilter()  # the filter of the full list
_PAGE_STATS = {ALARMS.op: "alarm_pages", NE_STATES.op: "ne_state_pages"}  # pages given, by list


def deadline_of(args: dict[str, Any]) -> float:
    raw = args.get("deadline", DEFAULT_DEADLINE)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_DEADLINE:
        raise ValueError(f"deadline: expected seconds in (0, {MAX_DEADLINE:g}]")
    return float(raw)


class Parts:
    """This agent's own part of a paged list (op ``kind.part_op``), in pages cut from
    snapshot generations: the first request (no ``gen``) takes one of ``entries(args)``
    (the request's filter applied), later ones name it."""

    def __init__(
        self, node_id: str, kind: Kind, entries: Callable[[dict[str, Any]], Iterable[Entry]]
    ) -> None:
        self.node_id = node_id
        self.kind = kind
        self.entries = entries
        self.snapshots: Generations[Snapshot] = Generations()

    async def page(self, args: dict[str, Any]) -> PartPage[Any]:
        limit = self.kind.limit(args)
        now = time.monotonic()
        gen = args.get("gen")
        if gen is None:
            gen = f"{self.node_id}:{uuid.uuid4().hex[:12]}"
            snap = self.snapshots.put(gen, self.snapshot(gen, args), now)
        else:
            found = self.snapshots.get(str(gen), now)
            if found is None:
                raise Expired(f"{self.node_id} no longer keeps the {self.kind.noun} snapshot {gen}")
            snap = found
        after = args.get("after")
        return part_page(snap, None if after is None else self.kind.parse_key(after), limit)

    def snapshot(self, gen: str, args: dict[str, Any]) -> Snapshot:
        """A new generation of this part (the request's filter applied)."""
        return Snapshot.of(gen, self.entries(args), 0.0)


class AlarmParts(Parts):
    """This agent's part of ``pool.alarms`` (op ``alarms.page``). ``alarms(nes)``: this
    agent's alarms now, of those NEs only if any named (an index lookup rather than a scan
    for a filtered query). ``store``: the same alarms with their revisions, if this agent
    has them; the full list is then made from rows kept between snapshots (``EntryCache``)
    rather than from every alarm again."""

    def __init__(
        self,
        node_id: str,
        alarms: Callable[[frozenset[str]], Iterable[Alarm]],
        store: Callable[[], Revised] | None = None,
    ) -> None:
        super().__init__(node_id, ALARMS, self._entries)
        self.alarms = alarms
        self.store = store
        self.kept = EntryCache(node_id)

    def snapshot(self, gen: str, args: dict[str, Any]) -> Snapshot:
        if self.store is not None and AlarmFilter.from_args(args) == _EVERY_ACTIVE:
            keys, items = self.kept.sorted(self.store())
            return Snapshot(gen, keys, items)
        return super().snapshot(gen, args)

    def _entries(self, args: dict[str, Any]) -> Iterable[Entry]:
        f = AlarmFilter.from_args(args)
        me = self.node_id
        mine = self.alarms(f.nes) if f.wants_agent(me) else ()
        if f == _EVERY_ACTIVE:  # the full list, most walks: skip the filter's calls
            return (alarm_entry(a, me) for a in mine if a.cleared_at is None)
        return (alarm_entry(a, me) for a in mine if f.matches_alarm(a))


class NeStateParts(Parts):
    """This agent's part of ``pool.ne_states`` (op ``ne_states.page``): ``states()`` are
    the summaries of the NEs it polls now."""

    def __init__(self, node_id: str, states: Callable[[], Iterable[dict[str, Any]]]) -> None:
        super().__init__(node_id, NE_STATES, self._entries)
        self.states = states

    def _entries(self, args: dict[str, Any]) -> Iterable[Entry]:
        return (ne_state_entry(st, self.node_id) for st in self.states())


def _retrieved(task: asyncio.Task[None]) -> None:
    """A prefetch nobody awaits (its walk was given up) must not log its error as lost;
    one that is awaited raises it there."""
    if not task.cancelled():
        task.exception()


class Federation:
    """``local``: this agent's own answers by op; ``members``: the live members' node ids
    now (this agent included or not); ``owner``: which agent manages an NE, if any;
    ``absent``: known members that are not alive, with why."""

    def __init__(
        self,
        node_id: str,
        peers: Peers,
        members: Callable[[], Iterable[str]],
        owner: Callable[[str], str | None],
        local: dict[str, Local],
        absent: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.node_id = node_id
        self.peers = peers
        self.members = members
        self.owner = owner
        self.local = local
        # Members known but not alive now (killed, partitioned): named in every reply as
        # missing with the reason, without spending the deadline on them.
        self.absent = absent or dict
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "partial",
                "acks_routed",
                "notes_routed",
                "alarm_pages",
                "ne_state_pages",
                "part_pages",
            ),
            0,
        )
        # Each list's merges apart: a cursor of one list never resumes another's merge.
        self.merges: dict[str, Generations[Merge]] = {
            k.op: Generations() for k in (ALARMS, NE_STATES)
        }
        # The members' rows of a walk's next page, asked while the client reads this one
        # (by merge generation; awaited by the next page, at most one per kept merge).
        self.ahead: dict[str, asyncio.Task[None]] = {}
        self.prefetch = True

    async def gather(self, op: str, args: dict[str, Any], deadline: float) -> Merged:
        """Every live member's answer to ``op`` (this agent's own without the bus)."""
        self.stats["requests"] += 1
        others = sorted(n for n in set(self.members()) if n != self.node_id)
        mine = asyncio.ensure_future(with_deadline(self.local[op](args), deadline))
        remote = await self.peers.gather(op, args, deadline, others)
        parts = dict(remote.results)
        failed = {n: why for n, why in self.absent().items() if n not in others}
        failed.update(remote.failed)
        for n in others:
            if n not in parts and n not in failed:
                failed[n] = "no link to this member yet"
        try:
            parts[self.node_id] = await mine
        except TimeoutError:
            failed[self.node_id] = f"did not answer within {deadline:g} s"
        merged = merge_lists(parts, failed)
        if merged.partial:
            self.stats["partial"] += 1
        return merged

    async def alarms(self, args: dict[str, Any]) -> dict[str, Any]:
        """One page of the pool's alarms, worst first: the first without ``cursor`` (with
        the filter), the next with only the ``next`` of the previous page (and ``limit``,
        ``deadline``): the filter went with the first, into each member's snapshot."""
        start = None if args.get("cursor") is not None else AlarmFilter.from_args(args).to_args()
        return await self.paged(ALARMS, args, start)

    async def ne_states(self, args: dict[str, Any]) -> dict[str, Any]:
        """One page of every live NE state of the pool, by NE name (then agent)."""
        return await self.paged(NE_STATES, args, {})

    async def paged(
        self, kind: Kind, args: dict[str, Any], start: dict[str, Any] | None
    ) -> dict[str, Any]:
        """One page of ``kind``'s list; ``start``: what a member's first request of its
        part carries (the filter), with the first page only."""
        limit = kind.limit(args)
        deadline = deadline_of(args)
        now = time.monotonic()
        cursor = args.get("cursor")
        if cursor is None:
            merge = self._begin()
        elif isinstance(cursor, str):
            merge = await self._resume(cursor, now, kind)
        else:
            raise ValueError("cursor: expected the 'next' of the previous page")
        self.stats[_PAGE_STATS[kind.op]] += 1
        await self._fill(merge, kind, start or {}, limit, deadline)
        items = merge.take(limit)
        nxt = merge.cursor()
        if nxt is not None:  # kept for the next page (a cache: the cursor suffices)
            self.merges[kind.op].put(merge.gen, merge, time.monotonic())
            self._ask_ahead(merge, kind, limit, deadline)
        missing = dict(merge.missing)
        if cursor is None and missing:
            self.stats["partial"] += 1
        return {
            "next": nxt,  # first: a client reads it before the items (agent/alarmpages.py)
            "items": items,
            "answered": merge.answered,
            "missing": missing,
            "partial": bool(missing),
            "snapshot": merge.gen,
            "total": sum(n for node, n in merge.total.items() if node not in missing),
            "fetched": time.time(),
        }

    def _begin(self) -> Merge:
        self.stats["requests"] += 1
        merge = Merge(gen=f"{self.node_id}:{uuid.uuid4().hex[:12]}")
        live = set(self.members()) | {self.node_id}
        merge.members = dict.fromkeys(sorted(live), "")
        merge.missing = {n: why for n, why in self.absent().items() if n not in live}
        return merge

    async def _resume(self, cursor: str, now: float, kind: Kind) -> Merge:
        decoded = Merge.from_cursor(cursor, now, kind)
        # Kept and at the cursor's place: no member is asked twice for the same rows. A
        # page asked again (a retry) or of another agent is rebuilt from the cursor.
        kept = self.merges[kind.op].pop(decoded.gen, now)
        ahead = self.ahead.pop(decoded.gen, None)
        if kept is None or kept.last != decoded.last:
            return decoded  # a prefetch into a merge set aside changes nothing here
        if ahead is not None:
            await ahead  # its Expired is this page's; a member that failed is named in kept
        return kept

    def _ask_ahead(self, merge: Merge, kind: Kind, limit: int, deadline: float) -> None:
        """Ask the members now for the rows the next page will need (the same asks the
        next page would make, under this page's deadline), while the client reads this
        page: the next page then waits for no member when it comes."""
        if not self.prefetch or not merge.wanted(limit):
            return
        kept = self.merges.values()
        for gen in [g for g, t in self.ahead.items() if t.done() and all(g not in m for m in kept)]:
            del self.ahead[gen]  # walks given up: their merge is no longer kept
        task = asyncio.ensure_future(self._fill(merge, kind, {}, limit, deadline))
        task.add_done_callback(_retrieved)
        self.ahead[merge.gen] = task

    async def aclose(self) -> None:
        """Cancel the prefetches under way (the agent is stopping)."""
        tasks = list(self.ahead.values())
        self.ahead.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fill(
        self, merge: Merge, kind: Kind, start: dict[str, Any], limit: int, deadline: float
    ) -> None:
        """Ask, in parallel under one deadline, every member whose rows may not cover the
        next page; a member that does not answer is named missing from now on."""
        asks = merge.wanted(limit)
        for a in asks.values():
            if "gen" not in a:
                a.update(start)
        self.stats["part_pages"] += len(asks)
        nodes = sorted(asks)
        answers = await asyncio.gather(
            *(self._part(kind, n, asks[n], deadline) for n in nodes), return_exceptions=True
        )
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, PeerError) and answer.code == ErrorCode.EXPIRED:
                raise Expired(f"{node} no longer keeps its part of {merge.gen}: start again")
            if isinstance(answer, Expired):
                raise answer
            if isinstance(answer, TimeoutError):
                merge.fail(node, f"did not answer within {deadline:g} s")
            elif isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                merge.fail(node, str(answer) or type(answer).__name__)
            else:
                merge.feed(node, answer)

    async def _part(
        self, kind: Kind, node: str, args: dict[str, Any], deadline: float
    ) -> PartPage[Any]:
        if node == self.node_id:
            page: PartPage[Any] = await with_deadline(self.local[kind.part_op](args), deadline)
            return page
        # Typed: only the keys are parsed; the rows pass through as the member sent them.
        try:
            raw = await self.peers.request(node, kind.part_op, args, deadline, raw=True)
        except PeerError as e:
            if kind is NE_STATES and e.code == ErrorCode.UNKNOWN_OP:
                return await self._unpaged_ne_states(node, args, deadline)
            raise
        try:
            part: PartPage[Any] = msgspec.json.decode(raw, type=kind.part_type)
        except msgspec.DecodeError as e:  # ValidationError included
            raise PeerError(node, "malformed", f"not a page of {kind.noun}: {e}") from None
        return part

    async def _unpaged_ne_states(
        self, node: str, args: dict[str, Any], deadline: float
    ) -> PartPage[Any]:
        """The part of a member of a release before ``ne_states.page`` (a rolling upgrade):
        its whole list, cut here into the page asked (each page from its list of then)."""
        states = await self.peers.request(node, "ne_states", {}, deadline)
        if not isinstance(states, list) or not all(isinstance(x, dict) for x in states):
            raise PeerError(node, "malformed", "not a list of NE states")
        snap = Snapshot.of(f"{node}:unpaged", (ne_state_entry(x, node) for x in states), 0.0)
        after = args.get("after")
        limit = NE_STATES.limit(args)
        return part_page(snap, None if after is None else NE_STATES.parse_key(after), limit)

    async def health(self, args: dict[str, Any]) -> dict[str, Any]:
        merged = await self.gather("status.part", {}, deadline_of(args))
        return merged.to_dict() | {"fetched": time.time()}

    async def ne_detail(self, args: dict[str, Any]) -> dict[str, Any]:
        """One NE's live state and standing alarms, from the agent that owns it."""
        ne = args.get("ne")
        if not isinstance(ne, str) or not ne:
            raise ValueError("ne: expected an NE name")
        return await self._on_owner(ne, "ne_detail", {"ne": ne}, deadline_of(args))

    async def ack(self, args: dict[str, Any], user: str) -> dict[str, Any]:
        """Acknowledge on the owner of the NE; ``user`` is the authenticated caller."""
        return await self._on_alarm_owner("ack.local", args, user, "acks_routed")

    async def note(self, args: dict[str, Any], user: str) -> dict[str, Any]:
        """A note on an alarm, written by the owner of the NE; ``user`` as for ``ack``."""
        return await self._on_alarm_owner("note.local", args, user, "notes_routed")

    async def _on_alarm_owner(
        self, op: str, args: dict[str, Any], user: str, counter: str
    ) -> dict[str, Any]:
        forwarded = dict(args) | {"user": user}
        ne = str(args["ne"])
        return await self._on_owner(ne, op, forwarded, deadline_of(args), counter)

    async def _on_owner(
        self, ne: str, op: str, args: dict[str, Any], deadline: float, counter: str = ""
    ) -> dict[str, Any]:
        """``op`` answered by the agent that manages ``ne``: here, or over its peer link
        (counted in ``counter``, if named, when it goes to another agent)."""
        owner = self.owner(ne)
        if owner is None:
            raise NotFound(f"NE {ne!r} is not managed by any agent of the pool")
        if owner == self.node_id:
            mine: dict[str, Any] = await self.local[op](args)
            return mine
        if counter:
            self.stats[counter] += 1
        try:
            result = await self.peers.request(owner, op, args, deadline)
        except PeerTimeout as e:
            raise PeerError(owner, "unavailable", f"the NE's owner did not answer: {e}") from None
        return dict(result) | {"via": self.node_id}

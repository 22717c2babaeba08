"""The federated service: answers from every live agent's memory, merged by the agent that
received the request.

Each ``pool.*`` request is answered by asking this agent's own part directly and every other
live member's part over the bus (``Peers.gather``: in parallel, one deadline), then merging
with shared/federated.py. The reply always says which agents answered and which did not
and why, so a dead or slow agent costs at most the deadline and a partial answer says so.
Acknowledgements and notes on alarms are routed to the agent that owns the NE.

``pool.alarms`` is paged on both hops (the bus caps a message at 4 MiB): each member keeps
a snapshot generation of its part and gives it in pages, and this agent merges the
members' already sorted pages into the client's pages under a keyset cursor; why that is
exact is in shared/alarmpage.py.
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
from shared.alarmpage import (
    Generations,
    Merge,
    PartPage,
    Snapshot,
    alarm_entry,
    page_limit,
    parse_key,
    part_page,
)
from shared.alarms import Alarm
from shared.errors import Expired, NotFound
from shared.federated import AlarmFilter, Merged, merge_lists
from shared.wire import ErrorCode

Local = Callable[[dict[str, Any]], Awaitable[Any]]

DEFAULT_DEADLINE = 2.0
MAX_DEADLINE = 10.0
_EVERY_ACTIVE = AlarmFilter()  # the filter of the full list


def deadline_of(args: dict[str, Any]) -> float:
    raw = args.get("deadline", DEFAULT_DEADLINE)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_DEADLINE:
        raise ValueError(f"deadline: expected seconds in (0, {MAX_DEADLINE:g}]")
    return float(raw)


class AlarmParts:
    """This agent's own part of ``pool.alarms`` (op ``alarms.page``), in pages cut from
    snapshot generations: the first request (no ``gen``) takes one with the filter, later
    ones name it. ``alarms(nes)``: this agent's alarms now, of those NEs only if any named
    (an index lookup rather than a scan for a filtered query)."""

    def __init__(self, node_id: str, alarms: Callable[[frozenset[str]], Iterable[Alarm]]) -> None:
        self.node_id = node_id
        self.alarms = alarms
        self.snapshots: Generations[Snapshot] = Generations()

    async def page(self, args: dict[str, Any]) -> PartPage:
        limit = page_limit(args)
        now = time.monotonic()
        gen = args.get("gen")
        if gen is None:
            f = AlarmFilter.from_args(args)
            me = self.node_id
            mine = self.alarms(f.nes) if f.wants_agent(me) else ()
            if f == _EVERY_ACTIVE:  # the full list, most walks: skip the filter's calls
                entries = (alarm_entry(a, me) for a in mine if a.cleared_at is None)
            else:
                entries = (alarm_entry(a, me) for a in mine if f.matches_alarm(a))
            gen = f"{me}:{uuid.uuid4().hex[:12]}"
            snap = self.snapshots.put(gen, Snapshot.of(gen, entries, now), now)
        else:
            found = self.snapshots.get(str(gen), now)
            if found is None:
                raise Expired(f"{self.node_id} no longer keeps the alarm snapshot {gen}")
            snap = found
        after = args.get("after")
        return part_page(snap, None if after is None else parse_key(after), limit)


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
            ("requests", "partial", "acks_routed", "notes_routed", "alarm_pages", "part_pages"), 0
        )
        self.merges: Generations[Merge] = Generations()

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
        limit = page_limit(args)
        deadline = deadline_of(args)
        now = time.monotonic()
        cursor = args.get("cursor")
        start: dict[str, Any] = {}
        if cursor is None:
            start = AlarmFilter.from_args(args).to_args()
            merge = self._begin()
        elif isinstance(cursor, str):
            merge = self._resume(cursor, now)
        else:
            raise ValueError("cursor: expected the 'next' of the previous page")
        self.stats["alarm_pages"] += 1
        await self._fill(merge, start, limit, deadline)
        items = merge.take(limit)
        nxt = merge.cursor()
        if nxt is not None:  # kept for the next page (a cache: the cursor suffices)
            self.merges.put(merge.gen, merge, time.monotonic())
        missing = dict(merge.missing)
        if cursor is None and missing:
            self.stats["partial"] += 1
        return {
            "items": items,
            "answered": merge.answered,
            "missing": missing,
            "partial": bool(missing),
            "next": nxt,
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

    def _resume(self, cursor: str, now: float) -> Merge:
        decoded = Merge.from_cursor(cursor, now)
        # Kept and at the cursor's place: no member is asked twice for the same rows. A
        # page asked again (a retry) or of another agent is rebuilt from the cursor.
        kept = self.merges.pop(decoded.gen, now)
        return kept if kept is not None and kept.last == decoded.last else decoded

    async def _fill(self, merge: Merge, start: dict[str, Any], limit: int, deadline: float) -> None:
        """Ask, in parallel under one deadline, every member whose rows may not cover the
        next page; a member that does not answer is named missing from now on."""
        asks = merge.wanted(limit)
        for a in asks.values():
            if "gen" not in a:
                a.update(start)
        self.stats["part_pages"] += len(asks)
        nodes = sorted(asks)
        answers = await asyncio.gather(
            *(self._part(n, asks[n], deadline) for n in nodes), return_exceptions=True
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

    async def _part(self, node: str, args: dict[str, Any], deadline: float) -> PartPage:
        if node == self.node_id:
            page: PartPage = await with_deadline(self.local["alarms.page"](args), deadline)
            return page
        # Typed: only the keys are parsed; the alarms pass through as the member sent them.
        raw = await self.peers.request(node, "alarms.page", args, deadline, raw=True)
        try:
            return msgspec.json.decode(raw, type=PartPage)
        except msgspec.DecodeError as e:  # ValidationError included
            raise PeerError(node, "malformed", f"not a page of alarms: {e}") from None

    async def ne_states(self, args: dict[str, Any]) -> dict[str, Any]:
        merged = await self.gather("ne_states", {}, deadline_of(args))
        items = sorted(merged.items, key=lambda s: str(s.get("name", "")))
        return Merged(items, merged.answered, merged.missing).to_dict() | {"fetched": time.time()}

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

"""The federated service: answers from every live agent's memory, merged by the agent that
received the request.

Each ``pool.*`` request is answered by asking this agent's own part directly and every other
live member's part over the bus (``Peers.gather``: in parallel, one deadline), then merging
with shared/federated.py. The reply always says which agents answered and which did not
and why, so a dead or slow agent costs at most the deadline and a partial answer says so.
Acknowledgements are routed to the agent that owns the NE.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from agent.aiotools import with_deadline
from agent.peers import PeerError, Peers, PeerTimeout
from shared.errors import NotFound
from shared.federated import AlarmFilter, Merged, merge_lists, worst_first

Local = Callable[[dict[str, Any]], Awaitable[Any]]

DEFAULT_DEADLINE = 2.0
MAX_DEADLINE = 10.0


def deadline_of(args: dict[str, Any]) -> float:
    raw = args.get("deadline", DEFAULT_DEADLINE)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_DEADLINE:
        raise ValueError(f"deadline: expected seconds in (0, {MAX_DEADLINE:g}]")
    return float(raw)


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
        self.stats: dict[str, int] = dict.fromkeys(("requests", "partial", "acks_routed"), 0)

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
        f = AlarmFilter.from_args(args)
        merged = await self.gather("alarms.local", f.to_args(), deadline_of(args))
        items = worst_first(a for a in merged.items if f.wants_agent(str(a.get("agent"))))
        return Merged(items, merged.answered, merged.missing).to_dict() | {"fetched": time.time()}

    async def ne_states(self, args: dict[str, Any]) -> dict[str, Any]:
        merged = await self.gather("ne_states", {}, deadline_of(args))
        items = sorted(merged.items, key=lambda s: str(s.get("name", "")))
        return Merged(items, merged.answered, merged.missing).to_dict() | {"fetched": time.time()}

    async def health(self, args: dict[str, Any]) -> dict[str, Any]:
        merged = await self.gather("status.part", {}, deadline_of(args))
        return merged.to_dict() | {"fetched": time.time()}

    async def ack(self, args: dict[str, Any], user: str) -> dict[str, Any]:
        """Acknowledge on the owner of the NE; ``user`` is the authenticated caller."""
        ne = str(args["ne"])
        owner = self.owner(ne)
        if owner is None:
            raise NotFound(f"NE {ne!r} is not managed by any agent of the pool")
        forwarded = dict(args) | {"user": user}
        if owner == self.node_id:
            result: dict[str, Any] = await self.local["ack.local"](forwarded)
            return result
        self.stats["acks_routed"] += 1
        try:
            result = await self.peers.request(owner, "ack.local", forwarded, deadline_of(args))
        except PeerTimeout as e:
            raise PeerError(owner, "unavailable", f"the NE's owner did not answer: {e}") from None
        return dict(result) | {"via": self.node_id}

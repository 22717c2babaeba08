"""Traps that reached the wrong agent: sent on to the NE's owner over the bus.

NEs are usually configured with one or two trap destinations, not every agent. The trap
receiver knows every pool NE's credentials (agent/managed.py), so a trap from an NE that
another agent manages is authenticated here first, then forwarded as a ForwardedTrap
(shared/poolwire.py) to its owner per the assignment table; the owner feeds it to its
model as if it had received it. Unknown sources are still dropped by the receiver
(counted there as ``unknown_source``). A forwarded trap is never forwarded again: the
owner that no longer manages it (the table just changed) counts and drops it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from agent.peers import Peers
from agent.traps import Notification
from shared.poolwire import ForwardedTrap, decode_value, encode_value, from_args, to_args
from shared.wire import KeyRole

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.bus import Bus

log = logging.getLogger(__name__)

OP = "pool.trap"


class TrapForwarder:
    def __init__(self, agent: Agent, peers: Peers) -> None:
        self.agent = agent
        self.peers = peers
        self.stats = dict.fromkeys(
            ("forwarded", "no_owner", "forward_dropped", "received_forwarded", "not_ours"), 0
        )

    def route(self, bus: Bus) -> None:
        bus.route(OP, self.on_forwarded, role=KeyRole.AGENT)

    def forward(self, n: Notification) -> None:
        """A trap this agent authenticated for an NE it does not manage."""
        follower = self.agent.follower
        owner = follower.owner_of(n.ne) if follower else ""
        if not owner or owner == self.agent.node_id:
            self.stats["no_owner"] += 1  # not placed yet, or being taken by us right now
            return
        msg = ForwardedTrap(
            ne=n.ne,
            via=self.agent.node_id,
            source=n.source,
            version=n.version,
            trap_oid=n.trap_oid,
            uptime=n.uptime,
            varbinds=[(oid, encode_value(v)) for oid, v in n.varbinds],
            received=n.received,
        )
        if self.peers.notify(owner, OP, to_args(msg)):
            self.stats["forwarded"] += 1
        else:
            self.stats["forward_dropped"] += 1

    async def on_forwarded(self, args: dict[str, Any]) -> dict[str, Any]:
        t: ForwardedTrap = from_args(args, ForwardedTrap)
        a = self.agent
        if t.ne not in a.model.states:
            self.stats["not_ours"] += 1
            return {}
        self.stats["received_forwarded"] += 1
        varbinds = [(tuple(oid), decode_value(v)) for oid, v in t.varbinds]
        events = a.model.notification(t.ne, tuple(t.trap_oid), varbinds, t.received)  # type: ignore[arg-type]
        if events:
            a.emit(events)
        return {}

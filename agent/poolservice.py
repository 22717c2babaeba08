"""The pool-wide services of one agent: the federated ``pool.*`` requests (answers from
every live member's memory), the peered ``db.*`` requests (from the shared database), the
relay that re-publishes the other members' live events, and the NE state snapshots this
agent writes for the NEs it owns. Wiring only: the parts live in agent/federation.py,
agent/peered.py, agent/relay.py and agent/nestate.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agent.busauth import acting_user
from agent.federation import AlarmParts, Federation, NeStateParts
from agent.handlers import ne_detail
from agent.inventoryops import InventoryOps
from agent.keys import secure_client
from agent.nestate import SnapshotWriter
from agent.peered import Peered
from agent.relay import Relay
from shared.alarms import Alarm
from shared.errors import NotFound
from shared.model import AlarmKey, Event
from shared.notes import check_note_text
from shared.wire import KeyRole, Topic

if TYPE_CHECKING:
    import zmq.asyncio

    from agent.app import Agent
    from agent.bus import Bus

RELAY_REFRESH = 1.0  # seconds between checks of the members' PUB endpoints
ABSENT_HORIZON = 3600.0  # a member silent longer is no longer reported missing (forget it)


class PoolService:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        a = agent
        assert a.peers is not None and a.bus is not None and a.db is not None
        self.parts = AlarmParts(a.node_id, self._own_alarms, lambda: self.agent.model.alarms)
        self.ne_parts = NeStateParts(a.node_id, self._own_states)
        self.federation = Federation(
            a.node_id,
            a.peers,
            self._members,
            lambda ne: (a.follower.owner_of(ne) if a.follower is not None else "") or None,
            {
                "alarms.page": self.parts.page,
                "ne_states.page": self.ne_parts.page,
                "status.part": self.status_part,
                "ack.local": self.ack_local,
                "note.local": self.note_local,
                "ne_detail": self._ne_detail_local,
            },
            self._absent,
        )
        db = a.db
        self.peered = Peered(lambda: db)
        self.inventory_ops = InventoryOps(lambda: db, self._inventory_changed)
        keypair = a.bus_security.keypair if a.bus_security is not None else None
        self._keys: dict[str, str] = {}

        def secure(sock: zmq.asyncio.Socket, node: str) -> None:
            if keypair is not None:
                secure_client(sock, keypair, self._keys.get(node, ""))

        self.relay = Relay(a.bus.ctx, a.node_id, a.publish_relayed, secure)
        self.snapshots = SnapshotWriter(
            db,
            a.node_id,
            lambda: list(a.model.states.values()),
            publish=lambda body: a.publish(Topic.NE, body),
        )

    def route(self, bus: Bus) -> None:
        f = self.federation
        bus.route("alarms.page", self.parts.page, role=KeyRole.AGENT)
        bus.route("ne_states.page", self.ne_parts.page, role=KeyRole.AGENT)
        bus.route("status.part", self.status_part)
        bus.route("ack.local", self.ack_local, role=KeyRole.AGENT)
        bus.route("note.local", self.note_local, role=KeyRole.AGENT)
        bus.route("pool.alarms", f.alarms)
        bus.route("pool.ne_states", f.ne_states)
        bus.route("pool.health", f.health)
        bus.route("pool.ack", self.pool_ack, role=KeyRole.OPERATOR)
        bus.route("pool.note", self.pool_note, role=KeyRole.OPERATOR)
        bus.route("pool.ne_detail", f.ne_detail)
        self.peered.route(bus)
        self.inventory_ops.route(bus)

    async def _ne_detail_local(self, args: dict[str, Any]) -> dict[str, Any]:
        return dict(ne_detail(self.agent, str(args["ne"])))

    def _inventory_changed(self) -> None:
        if self.agent.assigner is not None:
            self.agent.assigner.wake()  # only acts while this agent is master

    def _members(self) -> list[str]:
        shell = self.agent.election_shell
        alive = shell.election.alive_peers(shell.now()) if shell is not None else []
        return [self.agent.node_id, *alive]

    def _absent(self) -> dict[str, str]:
        """Members in the agents table that are neither alive nor stopped cleanly."""
        shell = self.agent.election_shell
        if shell is None:
            return {}
        live = set(self._members())
        return {
            n: f"not alive (last heartbeat {r.age:.0f} s ago by the database)"
            for n, r in shell.members.items()
            if n not in live and r.state != "stopped" and r.age < ABSENT_HORIZON
        }

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.snapshots.run(), name="snapshots")
            tg.create_task(self._follow_members(), name="relay")

    async def _follow_members(self) -> None:
        while True:
            shell = self.agent.election_shell
            members = shell.members if shell is not None else {}
            self._keys = {n: r.public_key for n, r in members.items()}
            live = set(self._members())
            await self.relay.update(
                {n: r.pub_endpoint for n, r in members.items() if n in live and r.pub_endpoint}
            )
            await asyncio.sleep(RELAY_REFRESH)

    async def aclose(self) -> None:
        await self.federation.aclose()
        await self.relay.aclose()

    # -- this agent's parts -------------------------------------------------------------
    def _own_alarms(self, nes: frozenset[str]) -> Iterable[Alarm]:
        store = self.agent.model.alarms
        if nes:
            return (a for ne in sorted(nes) for a in store.for_ne(ne))
        return iter(store)

    def _own_states(self) -> list[dict[str, object]]:
        return [st.summary() for st in self.agent.model.states.values()]

    async def status_part(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        a = self.agent
        shell = a.election_shell
        return [
            {
                "node_id": a.node_id,
                "managed": len(a.model.states),
                "alarms_active": len(a.model.alarms.active()),
                "election": shell.status() if shell is not None else {},
                "health": shell.health() if shell is not None else {},
            }
        ]

    # Acknowledgements and notes routed here by the agent the operator is attached to; the
    # user is the name of the key that agent authenticated (these routes take agent keys only).
    async def ack_local(self, args: dict[str, Any]) -> dict[str, object]:
        undo = bool(args.get("undo", False))
        model = self.agent.model
        return self._change_alarm(args, lambda key, user, now: model.ack(key, user, now, undo))

    async def note_local(self, args: dict[str, Any]) -> dict[str, object]:
        text = check_note_text(args.get("text"))
        model = self.agent.model
        return self._change_alarm(
            args, lambda key, user, now: model.note(key, user, text, now), standing=True
        )

    def _change_alarm(
        self,
        args: dict[str, Any],
        change: Callable[[AlarmKey, str, float], list[Event]],
        *,
        standing: bool = False,
    ) -> dict[str, object]:
        a = self.agent
        key = AlarmKey(str(args["ne"]), str(args.get("obj", "")), str(args["type"]))
        alarm = a.model.alarms.get(key)
        if alarm is None:
            raise NotFound(f"no alarm {key} on {a.node_id}")
        if standing and not alarm.active:
            raise NotFound(f"alarm {key} is cleared: notes go on standing alarms")
        a.emit(change(key, str(args.get("user") or "unknown"), time.time()))
        alarm = a.model.alarms.get(key)
        return (alarm.to_dict() if alarm else {}) | {"agent": a.node_id}

    async def pool_ack(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self.federation.ack(args, acting_user(args))

    async def pool_note(self, args: dict[str, Any]) -> dict[str, Any]:
        check_note_text(args.get("text"))  # refused here, with no hop to the owner
        return await self.federation.note(args, acting_user(args))

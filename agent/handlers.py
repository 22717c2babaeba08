"""The agent's answers to bus requests (``ping``, ``whoami``, ``status``, ``alarms``,
``ack``, ...).

One job: turn a request's arguments into a reply from the agent's live state (alarms, NE
states, counters), from the pool database (events, NEs; links are agent/peered.py's) or
from the request's authenticated caller (``whoami``). The handlers only read the agent,
except ``ack`` (an alarm transition, emitted like any other) and ``reload``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from agent.bus import Bus
from agent.busauth import acting_user, current_caller
from agent.db import Database
from agent.metrics import snmp_transport_stats
from shared.alarms import Alarm
from shared.errors import NotFound
from shared.eventquery import EventQuery, QueryError, page_limit
from shared.model import AlarmKey, Severity
from shared.wire import KeyRole

if TYPE_CHECKING:
    from agent.app import Agent


class Handlers:
    """The request handlers of one agent, routed on its bus by ``route``."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def route(self, bus: Bus) -> None:
        bus.route("ping", self.ping)
        bus.route("whoami", self.whoami)  # every role: a client shows who it is
        bus.route("status", self.status)
        bus.route("alarms", self.alarms)
        bus.route("ne_states", self.ne_states)
        bus.route("ne_detail", self.ne_detail)
        bus.route("ack", self.ack, role=KeyRole.OPERATOR)
        bus.route("events", self.events)
        bus.route("events.search", self.events_search)
        bus.route("events.counts", self.events_counts)
        bus.route("nes", self.nes)
        bus.route("reload", self.reload, role=KeyRole.OPERATOR)

    async def ping(self, args: dict[str, Any]) -> dict[str, Any]:
        a = self.agent
        return {
            "node_id": a.node_id,
            "time": time.time(),
            "pub_endpoint": a.bus.pub_endpoint if a.bus else None,
        }

    async def whoami(self, args: dict[str, Any]) -> dict[str, Any]:
        """The caller as this agent authenticated it: its key's name and role (on an
        insecure bus nobody is, and the reply says so), and which agent answered."""
        caller = current_caller()
        return {
            "name": caller.name,
            "role": caller.role.value,
            "authenticated": caller.authenticated,
            "node_id": self.agent.node_id,
        }

    async def status(self, args: dict[str, Any]) -> dict[str, Any]:
        a = self.agent
        return {
            "node_id": a.node_id,
            "priority": a.config.priority,
            "uptime": time.time() - a.started,
            "managed": len(a.model.states),
            "alarms_active": len(a.model.alarms.active()),
            "poller": dict(a.poller.stats) if a.poller else {},
            "snmp": snmp_transport_stats(a),
            "netconf": dict(a.nc_poller.stats) if a.nc_poller else {},
            "traps": dict(a.receiver.counters) if a.receiver else {},
            "outbox": a.writer.counters() if a.writer else {},
            "bus": dict(a.bus.stats) if a.bus else {},
            "bus_security": a.bus_security.summary() if a.bus_security else {},
            "bus_routes": {op: role.value for op, role in a.bus.roles.items()} if a.bus else {},
            "pool": self._pool(),
        }

    def _pool(self) -> dict[str, object]:
        """The election, the assignment this agent follows, trap forwarding."""
        a = self.agent
        out: dict[str, object] = {}
        if a.election_shell is not None:
            out.update(a.election_shell.status())
        if a.follower is not None:
            out["assignment"] = a.follower.status()
        if a.assigner is not None:
            out["assigner"] = a.assigner.status()
        if a.forwarder is not None:
            out["traps"] = dict(a.forwarder.stats)
        return out

    async def alarms(self, args: dict[str, Any]) -> list[dict[str, object]]:
        model = self.agent.model
        ne = args.get("ne")
        include_cleared = bool(args.get("include_cleared", False))
        min_sev = Severity.parse(str(args.get("min_severity", "indeterminate")))
        alarms = model.alarms.for_ne(ne) if ne else list(model.alarms)
        return self._worst_first(
            a for a in alarms if (include_cleared or a.active) and a.severity >= min_sev
        )

    async def ne_states(self, args: dict[str, Any]) -> list[dict[str, object]]:
        return [st.summary() for st in self.agent.model.states.values()]

    async def ne_detail(self, args: dict[str, Any]) -> dict[str, object]:
        """One NE's whole live state and standing alarms (``emspool ne show``); ``state`` is
        None when this agent does not poll the NE."""
        return ne_detail(self.agent, str(args["ne"]))

    async def ack(self, args: dict[str, Any]) -> dict[str, object]:
        a = self.agent
        key = AlarmKey(str(args["ne"]), str(args.get("obj", "")), str(args["type"]))
        if a.model.alarms.get(key) is None:
            raise NotFound(f"no alarm {key}")
        user = acting_user(args)
        events = a.model.ack(key, user, time.time(), undo=bool(args.get("undo", False)))
        a.emit(events)
        alarm = a.model.alarms.get(key)
        return alarm.to_dict() if alarm else {}

    async def events(self, args: dict[str, Any]) -> list[dict[str, object]]:
        db = self._db()
        limit = min(int(args.get("limit", 100)), 1000)
        rows = await asyncio.to_thread(
            lambda: db.query_events(
                ne=args.get("ne"),
                since=args.get("since"),
                limit=limit,
            )
        )
        return [e.to_dict() for e in rows]

    async def events_search(self, args: dict[str, Any]) -> dict[str, object]:
        """Peered: one page of the event log, the same from any agent (the database's)."""
        db = self._db()
        query_args = {k: v for k, v in args.items() if k not in ("cursor", "limit")}
        query = EventQuery.from_args(query_args)
        limit = page_limit(args.get("limit", 100))
        cursor = args.get("cursor") or None
        if cursor is not None and not isinstance(cursor, str):
            raise QueryError("cursor: expected a string")
        page = await asyncio.to_thread(db.search_events, query, cursor=cursor, limit=limit)
        return page.to_dict()

    async def events_counts(self, args: dict[str, Any]) -> dict[str, object]:
        query = EventQuery.from_args(args)
        counts = await asyncio.to_thread(self._db().event_counts, query)
        return counts.to_dict()

    async def nes(self, args: dict[str, Any]) -> list[dict[str, object]]:
        nes = await asyncio.to_thread(self._db().list_nes)
        states = self.agent.model.states
        return [
            ne.to_dict() | {"state": states[ne.name].summary() if ne.name in states else None}
            for ne in nes
        ]

    async def reload(self, args: dict[str, Any]) -> dict[str, object]:
        self.agent.reload_inventory()
        return {"reloading": True}

    def _db(self) -> Database:
        assert self.agent.db is not None, "requests are routed only once the database is open"
        return self.agent.db

    def _worst_first(self, alarms: Iterable[Alarm]) -> list[dict[str, object]]:
        return worst_first_of(self.agent, alarms)


def worst_first_of(agent: Agent, alarms: Iterable[Alarm]) -> list[dict[str, object]]:
    """Alarms as replies carry them (with this agent's id): most severe, then newest."""
    return sorted(
        (a.to_dict() | {"agent": agent.node_id} for a in alarms),
        key=lambda d: (-Severity.parse(str(d["severity"])), -float(d["last_seen"])),  # type: ignore[arg-type]
    )


def ne_detail(agent: Agent, name: str) -> dict[str, object]:
    """One NE's whole live state and standing alarms as this agent holds them (``state``
    None when this agent does not poll it)."""
    st = agent.model.states.get(name)
    alarms = worst_first_of(agent, agent.model.alarms.active(name))
    return {"agent": agent.node_id, "state": st.detail() if st else None, "alarms": alarms}

"""The peered service: requests every agent answers the same way, from the shared database
(inventory with owners and stored NE state, pool members, profiles without secrets, the
assignment table, topology). The event-log queries live in agent/handlers.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from agent.bus import Bus
from agent.db import Database
from agent.nestate import read_snapshots
from agent.pooldb import PoolDb
from agent.poolview import pool_rows
from shared.schema import Link

# What a database-sourced view shows of an NE's stored state (the rest stays in ne_state).
_BRIEF = ("owner", "taken", "reachable", "last_poll", "last_error", "sys_uptime")


# NEs per inventory page: about 0.5 kB each, so the largest page stays far below the bus's
# message cap.
INVENTORY_PAGE = 1000
INVENTORY_PAGE_MAX = 5000


def _names(args: dict[str, Any]) -> list[str] | None:
    v = args.get("ne")
    if v is None:
        return None
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return v
    raise ValueError("ne: expected a name or a list of names")


def _limit(args: dict[str, Any]) -> int:
    v = args.get("limit", INVENTORY_PAGE)
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= INVENTORY_PAGE_MAX:
        raise ValueError(f"limit: expected a whole number from 1 to {INVENTORY_PAGE_MAX}")
    return v


def _link(k: Link) -> dict[str, Any]:
    return {"a": k.a_ne, "a_port": k.a_port, "b": k.b_ne, "b_port": k.b_port, "source": k.source}


class Peered:
    def __init__(self, db: Callable[[], Database]) -> None:
        self._db = db

    def route(self, bus: Bus) -> None:
        bus.route("db.inventory", self.inventory)
        bus.route("db.pool", self.pool)
        bus.route("db.profiles", self.profiles)
        bus.route("db.assignment", self.assignment)
        bus.route("db.ne_state", self.ne_state)
        bus.route("db.topology", self.topology)
        bus.route("db.links", self.links)

    async def _run(self, fn: Callable[[Database], Any]) -> Any:
        db = self._db()
        return await asyncio.to_thread(fn, db)

    async def inventory(self, args: dict[str, Any]) -> dict[str, Any]:
        """NEs with their managing agent and the last stored poll result, one page by name
        (``after``: the last name of the previous page; ``next`` says where the next one
        starts, None at the end). Only the page's rows are read, whatever the inventory's
        size."""
        names = _names(args)
        limit = _limit(args)
        after = args.get("after")
        if after is not None and not isinstance(after, str):
            raise ValueError("after: expected an NE name")

        def read(db: Database) -> dict[str, Any]:
            nes = db.list_nes(names, after=after, limit=limit + 1)
            more = len(nes) > limit
            nes = nes[:limit]
            page = [ne.name for ne in nes]
            owners = PoolDb(db).read_assignment(page)
            snaps = read_snapshots(db, page)
            items = []
            for ne in nes:
                snap = snaps.get(ne.name, {})
                items.append(
                    ne.to_dict()
                    | {"owner": owners.owners.get(ne.name, "")}
                    | {"stored_state": {k: snap.get(k) for k in _BRIEF} if snap else None}
                )
            return {
                "items": items,
                "next": page[-1] if more else None,
                "assignment": {"epoch": owners.epoch, "version": owners.version},
                "fetched": time.time(),
            }

        result: dict[str, Any] = await self._run(read)
        return result

    async def pool(self, args: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = await self._run(lambda db: pool_rows(PoolDb(db)))
        return data | {"fetched": time.time()}

    async def profiles(self, args: dict[str, Any]) -> list[dict[str, object]]:
        """Names and protocols only: secrets never leave the agents."""
        profiles = await self._run(lambda db: db.get_profiles())
        return [
            p.redacted() | {"snmp": p.has_snmp, "ssh": p.has_ssh}
            for p in sorted(profiles.values(), key=lambda p: p.name)
        ]

    async def assignment(self, args: dict[str, Any]) -> dict[str, Any]:
        table = await self._run(lambda db: PoolDb(db).read_assignment())
        return {"epoch": table.epoch, "version": table.version, "owners": table.owners}

    async def ne_state(self, args: dict[str, Any]) -> dict[str, Any]:
        names = _names(args)
        snaps = await self._run(lambda db: read_snapshots(db, names))
        return {"items": snaps, "fetched": time.time()}

    async def links(self, args: dict[str, Any]) -> dict[str, Any]:
        """The topology links, of one ``source`` (lldp, manual, ...) if given, with when
        each was last seen: what ``emspool links`` lists."""
        source = args.get("source")
        if source is not None and not isinstance(source, str):
            raise ValueError("source: expected a link source name")
        found = await self._run(lambda db: db.list_links(source))
        items = [_link(k) | {"last_seen": k.last_seen} for k in found]
        return {"items": items, "fetched": time.time()}

    async def topology(self, args: dict[str, Any]) -> dict[str, Any]:
        """The database's picture: agents, NEs with owner and stored reachability, links."""

        def read(db: Database) -> dict[str, Any]:
            pool = pool_rows(PoolDb(db))
            owners = PoolDb(db).read_assignment().owners
            snaps = read_snapshots(db)
            nes = [
                {
                    "name": ne.name,
                    "kind": ne.kind,
                    "zone": ne.zone,
                    "owner": owners.get(ne.name, ""),
                    "managed": ne.managed,
                    "reachable": snaps.get(ne.name, {}).get("reachable"),
                }
                for ne in db.list_nes()
            ]
            links = [_link(k) for k in db.list_links(None)]
            return {
                "source": "database",
                "agents": pool["members"],
                "master": pool["master"],
                "epoch": pool["epoch"],
                "nes": nes,
                "links": links,
                "fetched": time.time(),
            }

        result: dict[str, Any] = await self._run(read)
        return result

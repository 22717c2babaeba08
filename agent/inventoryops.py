"""Inventory changes through the bus: add, edit or remove an NE, import an inventory
document (operator keys only; a viewer is refused by the bus).

Any agent takes them and writes them to the pool's database, validated exactly as
``emspool ne add/set/import`` validate (agent.inventory). Nothing else is needed for them
to take effect: the master's assigner reads the inventory's signature every second and
places new, changed (zone, pin, managed) or removed NEs, and each agent's follower reads
the NEs the table names; so a change is in force pool-wide within about two seconds,
whichever agent received it. If this agent is the master it recomputes at once.

Replies say what changed and never echo credentials (an imported document may hold
profiles with their secrets). The log line names the authenticated key that asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.busauth import current_caller
from agent.inventory import ne_changes, parse_ne
from shared.wire import KeyRole

if TYPE_CHECKING:
    from agent.bus import Bus
    from agent.db import Database

log = logging.getLogger(__name__)

MAX_REMOVE = 10_000  # names in one db.ne.remove


class InventoryOps:
    def __init__(self, db: Callable[[], Database], changed: Callable[[], None]) -> None:
        self._db = db
        self._changed = changed

    def route(self, bus: Bus) -> None:
        bus.route("db.ne.add", self.add, role=KeyRole.OPERATOR)
        bus.route("db.ne.set", self.set, role=KeyRole.OPERATOR)
        bus.route("db.ne.remove", self.remove, role=KeyRole.OPERATOR)
        bus.route("db.inventory.import", self.import_inventory, role=KeyRole.OPERATOR)

    async def _write(self, fn: Callable[[Database], Any], what: str) -> Any:
        db = self._db()
        result = await asyncio.to_thread(fn, db)
        log.info("inventory: %s (by %s)", what, current_caller().name)
        self._changed()
        return result

    async def add(self, args: dict[str, Any]) -> dict[str, Any]:
        """``ne``: the NE in the inventory's JSON form; ``replace``: overwrite one of that
        name (else an existing one is an error)."""
        ne = parse_ne(args.get("ne"), "db.ne.add")
        replace = args.get("replace", False)
        if not isinstance(replace, bool):
            raise ValueError("replace: expected true or false")
        changed = await self._write(lambda db: db.add_ne(ne, replace=replace), f"{ne.name} added")
        return {"ne": ne.name, "changed": bool(changed)}

    async def set(self, args: dict[str, Any]) -> dict[str, Any]:
        """``name`` and ``changes``: fields in the inventory's JSON form (as `ne set`)."""
        name, changes = args.get("name"), args.get("changes")
        if not isinstance(name, str) or not name:
            raise ValueError("name: expected an NE name")
        if not isinstance(changes, dict) or "name" in changes:
            raise ValueError("changes: expected an object of fields (not the name)")

        def apply(db: Database) -> list[str]:
            old = db.get_ne(name)
            diff = ne_changes(old, parse_ne(old.to_dict() | changes, "db.ne.set"))
            if diff:
                db.update_ne(name, **diff)
            return sorted(diff)

        fields: list[str] = await self._write(apply, f"{name} changed")
        return {"ne": name, "changed": fields}

    async def remove(self, args: dict[str, Any]) -> dict[str, Any]:
        names = args.get("names")
        if (
            not isinstance(names, list)
            or not names
            or len(names) > MAX_REMOVE
            or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError(f"names: expected a list of 1 to {MAX_REMOVE} NE names")

        def apply(db: Database) -> None:
            for n in names:
                db.remove_ne(n)

        await self._write(apply, f"{len(names)} NEs removed")
        return {"removed": names}

    async def import_inventory(self, args: dict[str, Any]) -> dict[str, Any]:
        data = args.get("inventory")
        if not isinstance(data, dict):
            raise ValueError("inventory: expected an inventory document (an object)")
        profiles, nes = await self._write(
            lambda db: db.import_inventory(data), "inventory document imported"
        )
        return {"profiles": profiles, "nes": nes}

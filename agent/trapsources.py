"""Who may send this agent traps, and the SNMPv3 engine IDs it knows them by.

One job: build the trap receiver's sources for the managed SNMP NEs, with each NE's v3
engine ID pinned in the inventory or learnt from its authenticated traps. Learnt IDs are
kept until saved to the database (they survive a database outage in memory) and shown in
the NE state; NEs whose traps cannot always be told apart are reported once per run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from agent.db import Database
from agent.snmp.types import resolve_context
from agent.traps import TrapSource
from shared.errors import DatabaseError
from shared.model import CredentialProfile, Event, NetworkElement, Severity, SnmpVersion
from shared.nodal import NodalModel

log = logging.getLogger(__name__)


class TrapSources:
    def __init__(
        self,
        node_id: str,
        model: NodalModel,
        emit: Callable[[list[Event]], None],
        on_learned: Callable[[], None],
    ) -> None:
        """``on_learned`` is called when an engine ID is learnt (to get it saved soon)."""
        self.node_id = node_id
        self.model = model
        self.emit = emit
        self.on_learned = on_learned
        # Engine IDs learnt from traps (hex): the database's, plus those not saved yet.
        self.learned: dict[str, str] = {}
        self.unsaved: dict[str, str] = {}
        self._ambiguous_told: set[tuple[str, str, str, str]] = set()

    def load(self, learned: dict[str, str]) -> None:
        """The database's learnt engine IDs; an NE missing from it was reset and learns
        afresh, but what this agent learnt and has not saved yet stays."""
        self.learned = {**learned, **self.unsaved}

    def source(self, ne: NetworkElement, profile: CredentialProfile) -> TrapSource:
        learned = self.learned.get(ne.name)
        return TrapSource(
            ne.name,
            profile,
            engine_id=bytes.fromhex(ne.engine_id) if ne.engine_id else None,
            learned=bytes.fromhex(learned) if learned else None,
        )

    def show(self, ne: NetworkElement, profile: CredentialProfile) -> None:
        """The NE state shows the v3 engine ID (pinned or learnt) and the context polled."""
        st = self.model.states.get(ne.name)
        if st is None:
            return
        v3 = profile.version is SnmpVersion.V3
        learned = self.learned.get(ne.name, "")
        st.context = resolve_context(ne, profile) if v3 else ""
        st.engine_id = ne.engine_id or learned
        st.engine_source = "pinned" if ne.engine_id else ("learnt" if learned else "")

    def tell_ambiguous(self, pairs: list[tuple[str, str, str, str]]) -> None:
        """An event (once per agent run) for each pair of NEs whose traps look alike."""
        events = [
            Event(
                time=time.time(),
                ne=ne,
                type="agent",
                severity=Severity.WARNING,
                text=f"traps from {address} cannot always be told from {other}'s: {why} "
                "(pin engine_id or use different credentials)",
                agent=self.node_id,
            )
            for address, a, b, why in pairs
            if (address, a, b, why) not in self._ambiguous_told
            for ne, other in ((a, b), (b, a))
        ]
        self._ambiguous_told.update(pairs)
        if events:
            self.emit(events)

    def engine_learned(self, ne: str, engine_id: bytes) -> None:
        """The receiver saw an NE's engine ID in an authenticated trap for the first time:
        keep it (``save`` writes it to the database) and show it."""
        self.learned[ne] = self.unsaved[ne] = engine_id.hex()
        st = self.model.states.get(ne)
        if st is not None and st.engine_source != "pinned":
            st.engine_id, st.engine_source = engine_id.hex(), "learnt"
        self.on_learned()

    async def save(self, db: Database) -> None:
        """Write the engine IDs learnt since the last save; on failure they wait for the next."""
        unsaved = dict(self.unsaved)
        if not unsaved:
            return

        def save() -> None:
            for ne, engine_id in unsaved.items():
                db.save_engine(ne, engine_id, agent=self.node_id, source="trap")

        try:
            await asyncio.to_thread(save)
        except DatabaseError as e:
            log.warning("learnt engine IDs not saved, retrying later: %s", e)
            return
        for ne, engine_id in unsaved.items():
            if self.unsaved.get(ne) == engine_id:
                del self.unsaved[ne]

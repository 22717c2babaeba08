"""Opening an agent's bus from its config: its key pair (made on first start), the
allow-list read from the pool database, ZAP, then the sockets, then its ``agents`` row
(endpoints and public key, so clients and peers can find and trust it).

``[bus] insecure = true`` skips all of it but the sockets, and says so loudly.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from agent.bus import Bus
from agent.busauth import AllowList, keep_allow_list
from agent.db import Database
from agent.keys import KeyPair, KeyStore, load_or_create
from agent.pooldb import PoolDb
from shared.config import AgentConfig
from shared.wire import KeyRole

log = logging.getLogger(__name__)

INSECURE_WARNING = (
    "BUS INSECURE: [bus] insecure = true: no encryption, no authentication, every client "
    "may do everything (acknowledge, election, assignment). For a lab only."
)


@dataclass
class BusSecurity:
    """What a running agent knows about its bus's security (``status`` shows it)."""

    keypair: KeyPair | None
    allow: AllowList
    store: KeyStore
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def insecure(self) -> bool:
        return self.keypair is None

    def summary(self) -> dict[str, object]:
        if self.keypair is None:
            return {"secure": False, "warning": INSECURE_WARNING}
        return {"secure": True, "public_key": self.keypair.public, "allowed_keys": len(self.allow)}

    async def keep_allow_list(self, node_id: str) -> None:
        own = None if self.keypair is None else (self.keypair.public, node_id)
        await keep_allow_list(self.allow, self.store.active, own, self.wake)


def load_security(cfg: AgentConfig, db: Database) -> BusSecurity:
    """Blocking (files, database): this agent's key pair and the allow-list."""
    store = KeyStore(db)
    allow = AllowList()
    if cfg.bus.insecure:
        log.warning(INSECURE_WARNING)
        return BusSecurity(None, allow, store)
    path = Path(cfg.effective_key_file)
    pair, created = load_or_create(path, cfg.node_id)
    if created:
        log.info("bus: created this agent's key pair in %s (public key %s)", path, pair.public)
    store.allow(cfg.node_id, pair.public, KeyRole.AGENT, "agent key", replace=True)
    allow.replace(store.active())
    return BusSecurity(pair, allow, store)


def make_bus(cfg: AgentConfig, security: BusSecurity) -> Bus:
    """In the event loop; listens once ``bind`` is called (after the routes are set)."""
    return Bus(
        cfg.router_endpoint,
        cfg.pub_endpoint,
        keypair=security.keypair,
        allow=security.allow,
        max_in_flight=cfg.bus.max_in_flight,
    )


def advertise(cfg: AgentConfig, db: Database, bus: Bus, security: BusSecurity) -> None:
    """Blocking: this agent's row, where its bus listens and the key clients must expect."""
    PoolDb(db).heartbeat(
        cfg.node_id,
        endpoint=bus.router_endpoint,
        pub_endpoint=bus.pub_endpoint,
        public_key=security.keypair.public if security.keypair else "",
        priority=cfg.priority,
        state="starting",
    )

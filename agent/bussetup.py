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
from agent.busauth import AllowList, AllowListKeeper
from agent.db import Database, InventoryConflict
from agent.keys import KeyPair, KeyStore, load_or_create, public_path
from agent.pooldb import PoolDb
from shared.config import AgentConfig
from shared.errors import ConfigError
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
    node_id: str = ""
    keeper: AllowListKeeper = field(init=False)

    def __post_init__(self) -> None:
        own = None if self.keypair is None else (self.keypair.public, self.node_id)
        self.keeper = AllowListKeeper(self.allow, self.store.active, own)

    @property
    def insecure(self) -> bool:
        return self.keypair is None

    @property
    def wake(self) -> asyncio.Event:
        """Set it to re-read the allow-list now (reload)."""
        return self.keeper.wake

    def summary(self) -> dict[str, object]:
        if self.keypair is None:
            return {"secure": False, "warning": INSECURE_WARNING}
        return {"secure": True, "public_key": self.keypair.public, "allowed_keys": len(self.allow)}

    async def keep_allow_list(self, node_id: str = "") -> None:
        await self.keeper.run()


def load_security(cfg: AgentConfig, db: Database) -> BusSecurity:
    """Blocking (files, database): this agent's key pair and the allow-list."""
    store = KeyStore(db)
    allow = AllowList()
    if cfg.bus.insecure:
        log.warning(INSECURE_WARNING)
        return BusSecurity(None, allow, store, cfg.node_id)
    path = Path(cfg.effective_key_file)
    pair, created = load_or_create(path, cfg.node_id)
    if created:
        log.info("bus: created this agent's key pair in %s (public key %s)", path, pair.public)
    active = store.active()
    mine = next((k for k in active if k.public_key == pair.public), None)
    if mine is None:  # first start, or a new key pair: allowed under the node id
        try:
            store.allow(cfg.node_id, pair.public, KeyRole.AGENT, "agent key", replace=True)
        except InventoryConflict as e:
            raise ConfigError(
                f"bus: cannot allow this agent's key ({e}); if it was revoked on purpose, "
                f"this host must not rejoin with it; else remove {path} and {public_path(path)} "
                "to make a new one"
            ) from None
        active = store.active()
    elif mine.role is not KeyRole.AGENT:  # a key made with `emspool keys create --role ...`
        raise ConfigError(f"bus: {path} is allowed as {mine.role.value} {mine.name!r}, not agent")
    allow.replace(active)
    return BusSecurity(pair, allow, store, cfg.node_id)


def make_bus(cfg: AgentConfig, security: BusSecurity) -> Bus:
    """In the event loop; listens once ``bind`` is called (after the routes are set)."""
    return Bus(
        cfg.router_endpoint,
        cfg.pub_endpoint,
        keypair=security.keypair,
        allow=security.allow,
        max_in_flight=cfg.bus.max_in_flight,
        max_message=cfg.bus.max_message,
        recheck=None if security.insecure else security.keeper.recheck,
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

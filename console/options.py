"""Where the console finds the pool and its key, resolved as the `emspool` CLI does
(agent/cliopts.py): ``--db``/``EMSPOOL_DB`` for the agents' rows, ``--agents``/
``EMSPOOL_AGENT`` to keep some of them (or to name endpoints), ``--key``/``EMSPOOL_KEY``/
``~/.config/emspool/bus.key`` for the console's own CURVE key. Also the key's name and role
as the pool database allows them, so the console knows before a refusal whether it may
acknowledge. No Qt here."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from agent import cliopts
from agent.busclient import Endpoint
from agent.keys import KeyPair, read_key_file
from shared.errors import EmspoolError
from shared.wire import KeyRole


def cli_namespace(db: str | None, agents: str | None, key: str | None) -> argparse.Namespace:
    """The console's options in the shape agent/cliopts.py reads."""
    return argparse.Namespace(db=db, agent=agents, key=key, config=None)


def endpoints(ns: argparse.Namespace) -> Callable[[], list[Endpoint]]:
    """Re-read at every (re)connect: an agent that joins the pool is found."""
    return lambda: cliopts.agent_endpoints(ns)


def bus_key(ns: argparse.Namespace) -> tuple[KeyPair | None, Path]:
    """The console's key pair (None when there is no file: only insecure agents answer)."""
    path = cliopts.key_path(ns)
    return (read_key_file(path) if path.exists() else None), path


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    role: KeyRole | None  # None: not known (no database to ask)
    source: str  # where the role comes from, said in the UI

    def may(self, needed: KeyRole) -> bool | None:
        return None if self.role is None else self.role.allows(needed)


def identity_of(whoami: Any) -> Identity:
    """Our key as an agent's ``whoami`` names it (what that agent will allow us)."""
    node = str(whoami.get("node_id", "?")) if isinstance(whoami, dict) else "?"
    if not isinstance(whoami, dict) or not whoami.get("authenticated"):
        return Identity("", None, f"agent {node}: insecure bus, nobody authenticated")
    try:
        role: KeyRole | None = KeyRole(str(whoami.get("role")))
    except ValueError:
        role = None
    return Identity(str(whoami.get("name", "")), role, f"agent {node}")


def identity(ns: argparse.Namespace, key: KeyPair | None) -> Identity:
    """Our key's name and role from the pool's allow-list (blocking: a database read)."""
    if key is None:
        return Identity("", None, "no bus key")
    url, _ = cliopts.db_url(ns)
    path = cliopts.sqlite_file(url)
    if path is not None and not path.exists():
        return Identity("", None, "no pool database to look the key up")
    from agent.db import Database
    from agent.keys import KeyStore

    try:
        with Database.open(url) as db:
            keys = KeyStore(db).list_keys()
    except (EmspoolError, SQLAlchemyError) as e:
        return Identity("", None, f"pool database not readable: {e}")
    for k in keys:
        if k.public_key == key.public and k.revoked is None:
            return Identity(k.name, k.role, "pool database")
    return Identity("", None, "key not in the pool's allow-list")

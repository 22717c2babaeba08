"""The pool database (SQLite or PostgreSQL): inventory, links and the event log.

Sync on purpose: the agent calls it from worker threads (``asyncio.to_thread``). The
Engine and its pool are thread-safe and every method runs in its own short transaction.
SQLAlchemy and DBAPI errors never leave this module: they become ``DatabaseError`` (or
``NotFound`` / ``InventoryConflict``) with a message that names the URL without its password.

Opening and migrating live in agent/dbengine.py, the inventory's record forms in
agent/inventory.py, the event-log statements in agent/eventlog.py; this module re-exports
``migrate``, ``safe_url`` and ``MIGRATIONS_DIR``.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Self

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc

from agent import eventlog, eventsearch, profilestore, textsearch
from agent.dbengine import (
    MIGRATIONS_DIR,
    clock_sql,
    describe_error,
    migrate,
    open_engine,
    safe_url,
)
from agent.inventory import (
    ne_from_row,
    ne_values,
    parse_inventory,
)
from agent.rows import InventoryConflict, named_row, write_named_row
from agent.secretbox import SecretBox, SecretsKeyError
from shared.errors import ConfigError, DatabaseError, NotFound
from shared.eventquery import Counts, Cursor, EventQuery, Page, page_of
from shared.model import CredentialProfile, Event, NetworkElement
from shared.schema import (
    Link,
    credential_profiles,
    event_log,
    links,
    network_elements,
    snmp_engines,
)

__all__ = [
    "MIGRATIONS_DIR",
    "Database",
    "InventoryConflict",
    "migrate",
    "safe_url",
]

_MAX_QUERY_LIMIT = 10_000

log = logging.getLogger(__name__)


class Database:
    """Inventory, links and event log of one pool. Thread-safe; each call is one transaction."""

    def __init__(self, engine: Engine, secrets: SecretBox | None = None) -> None:
        self._engine = engine
        # The pool secrets key: profiles' secrets are sealed with it on write and opened on
        # read; without one they are written as they come and sealed ones cannot be read.
        self.secrets = secrets
        self._unreadable: set[str] = set()
        self._password = engine.url.password
        self.url = safe_url(engine.url)
        self.dialect = engine.dialect.name
        self._fts: bool | None = None  # SQLite: has the FTS text index (once known)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        busy_timeout: float = 5.0,
        connect_timeout: float = 3.0,
        secrets: SecretBox | None = None,
    ) -> Database:
        """Open (lazily connect to) ``sqlite:///path`` or ``postgresql+psycopg://...``."""
        engine = open_engine(url, busy_timeout=busy_timeout, connect_timeout=connect_timeout)
        return cls(engine, secrets)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, what: str) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except sa_exc.IntegrityError as e:
            raise InventoryConflict(
                f"{what}: conflicts with stored data ({describe_error(e, self._password)})"
            ) from e
        except (sa_exc.SQLAlchemyError, sqlite3.Error) as e:
            raise DatabaseError(
                f"{what} failed on {self.url}: {describe_error(e, self._password)}"
            ) from e

    def transaction(self, what: str) -> AbstractContextManager[Connection]:
        """One transaction with this module's error mapping (for agent/pooldb.py)."""
        return self._transaction(what)

    def db_time(self) -> float:
        """The database server's clock in epoch seconds (leases are timed by it, not by us)."""
        with self._transaction("reading the database clock") as conn:
            return float(conn.execute(text(f"SELECT {clock_sql(self.dialect)}")).scalar_one())

    # -- credential profiles (agent/profilestore.py) -----------------------------------------

    def upsert_profile(self, profile: CredentialProfile) -> bool:
        """Create or update a profile; returns False when it was already stored as is."""
        with self._transaction(f"saving profile {profile.name!r}") as conn:
            return profilestore.upsert(conn, profile, self.secrets, time.time())

    def get_profiles(self) -> dict[str, CredentialProfile]:
        """Every profile this host can read. One whose secrets are sealed with a key it
        lacks is left out (its NEs are then not polled) and named once in the log."""
        with self._transaction("reading profiles") as conn:
            return profilestore.read_all(conn, self.secrets, self._unreadable)

    def get_profile(self, name: str) -> CredentialProfile:
        with self._transaction(f"reading profile {name!r}") as conn:
            return profilestore.read_one(conn, name, self.secrets)

    def remove_profile(self, name: str) -> None:
        with self._transaction(f"removing profile {name!r}") as conn:
            profilestore.remove(conn, name)

    def reseal_profiles(self) -> int:
        """Re-encrypt every profile's secrets with the newest pool key (plain ones too):
        the middle step of a key rotation. Returns how many profiles were rewritten."""
        if self.secrets is None:
            raise SecretsKeyError("no pool secrets key: nothing to seal with")
        with self._transaction("re-encrypting profile secrets") as conn:
            return profilestore.reseal(conn, self.secrets)

    # -- network elements -------------------------------------------------------------------

    def add_ne(self, ne: NetworkElement, *, replace: bool = False) -> bool:
        """Store an NE; an existing one is an error unless ``replace``. False: unchanged."""
        with self._transaction(f"saving NE {ne.name!r}") as conn:
            return self._put_ne(conn, ne, replace=replace, now=time.time())

    def remove_ne(self, name: str) -> None:
        with self._transaction(f"removing NE {name!r}") as conn:
            deleted = conn.execute(
                delete(network_elements).where(network_elements.c.name == name)
            ).rowcount
            # A removed NE's links would dangle in the topology; LLDP re-reports live ones.
            conn.execute(delete(links).where(or_(links.c.a_ne == name, links.c.b_ne == name)))
            conn.execute(delete(snmp_engines).where(snmp_engines.c.ne == name))
        if not deleted:
            raise NotFound(f"NE {name!r} not found")

    def list_nes(
        self,
        names: Sequence[str] | None = None,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[NetworkElement]:
        """NEs by name; ``names`` only those, ``after``/``limit`` one page by name (keyset)."""
        t = network_elements
        q = select(t).order_by(t.c.name)
        if names is not None:
            q = q.where(t.c.name.in_(list(names)))
        if after is not None:
            q = q.where(t.c.name > after)
        if limit is not None:
            q = q.limit(limit)
        with self._transaction("listing NEs") as conn:
            return [ne_from_row(row) for row in conn.execute(q)]

    def get_ne(self, name: str) -> NetworkElement:
        with self._transaction(f"reading NE {name!r}") as conn:
            row = named_row(conn, network_elements, name)
        if row is None:
            raise NotFound(f"NE {name!r} not found")
        return ne_from_row(row)

    def update_ne(self, name: str, **changes: Any) -> NetworkElement:
        """Change some fields of a stored NE (``managed=False``, ``link_alarms=...``)."""
        with self._transaction(f"updating NE {name!r}") as conn:
            row = named_row(conn, network_elements, name)
            if row is None:
                raise NotFound(f"NE {name!r} not found")
            try:
                ne = dataclasses.replace(ne_from_row(row), **changes)
            except TypeError as e:
                raise ConfigError(f"NE {name!r}: {e}") from None
            self._put_ne(conn, ne, replace=True, now=time.time())
            return ne

    # -- SNMPv3 engine IDs learnt by the agents -----------------------------------------------

    def learned_engines(self) -> dict[str, str]:
        """NE name -> engine ID (hex) the agents learnt."""
        with self._transaction("reading learnt engine IDs") as conn:
            rows = conn.execute(select(snmp_engines.c.ne, snmp_engines.c.engine_id))
            return {r.ne: r.engine_id for r in rows}

    def save_engine(self, ne: str, engine_id: str, *, agent: str, source: str) -> None:
        t = snmp_engines
        with self._transaction(f"saving the engine ID of {ne!r}") as conn:
            values = {"engine_id": engine_id, "learned": time.time(), "agent": agent}
            done = conn.execute(update(t).where(t.c.ne == ne).values(source=source, **values))
            if not done.rowcount:
                conn.execute(insert(t).values(ne=ne, source=source, **values))

    def reset_engine(self, ne: str) -> bool:
        """Forget what was learnt of an NE's engine (a replaced device); True if there was."""
        with self._transaction(f"resetting the engine ID of {ne!r}") as conn:
            return bool(conn.execute(delete(snmp_engines).where(snmp_engines.c.ne == ne)).rowcount)

    def _put_ne(self, conn: Connection, ne: NetworkElement, *, replace: bool, now: float) -> bool:
        t = network_elements
        if not conn.execute(
            select(credential_profiles.c.name).where(credential_profiles.c.name == ne.profile)
        ).first():
            raise NotFound(f"NE {ne.name!r}: credential profile {ne.profile!r} not found")
        clash = conn.execute(
            select(t.c.name).where(
                t.c.address == ne.address, t.c.port == ne.port, t.c.name != ne.name
            )
        ).scalar()
        if clash is not None:
            raise InventoryConflict(
                f"NE {ne.name!r}: {ne.address}:{ne.port} is already NE {clash!r}"
            )
        row = named_row(conn, t, ne.name)
        if row is not None and not replace:
            raise InventoryConflict(f"NE {ne.name!r} already exists")
        return write_named_row(conn, t, ne.name, row, ne_values(ne), now)

    # -- inventory import -------------------------------------------------------------------

    def import_inventory(self, data: Mapping[str, Any]) -> tuple[int, int]:
        """Apply a lab inventory document in one transaction.

        Returns how many profiles and NEs were created or changed: importing the same
        document twice returns (0, 0) the second time. Links are added as 'manual' ones.
        """
        profiles, nes, manual_links = parse_inventory(data)
        now = time.time()
        with self._transaction("importing the inventory") as conn:
            n_profiles = sum(profilestore.upsert(conn, p, self.secrets, now) for p in profiles)
            n_nes = sum(self._put_ne(conn, ne, replace=True, now=now) for ne in nes)
            for link in manual_links:
                self._add_link_if_missing(conn, link, now)
        return n_profiles, n_nes

    # -- links ------------------------------------------------------------------------------

    def replace_links(
        self, new_links: Sequence[Link], *, source: str, ne: str | None = None
    ) -> int:
        """Make ``new_links`` the set of ``source`` links (only those touching ``ne`` if given).

        Returns how many links are stored for that scope afterwards.
        """
        now = time.time()
        unique: dict[tuple[str, str, str, str], Link] = {}
        for link in new_links:
            c = link.canonical()
            if ne is not None and ne not in (c.a_ne, c.b_ne):
                raise ValueError(
                    f"link {c.a_ne}:{c.a_port}-{c.b_ne}:{c.b_port} does not touch {ne}"
                )
            unique[(c.a_ne, c.a_port, c.b_ne, c.b_port)] = c
        scope = links.c.source == source
        if ne is not None:
            scope = and_(scope, or_(links.c.a_ne == ne, links.c.b_ne == ne))
        with self._transaction(f"replacing {source} links") as conn:
            conn.execute(delete(links).where(scope))
            if unique:
                conn.execute(
                    insert(links),
                    [
                        {
                            "a_ne": c.a_ne,
                            "a_port": c.a_port,
                            "b_ne": c.b_ne,
                            "b_port": c.b_port,
                            "source": source,
                            "last_seen": c.last_seen or now,
                        }
                        for c in unique.values()
                    ],
                )
        return len(unique)

    def list_links(self, source: str | None = None) -> list[Link]:
        q = select(links).order_by(links.c.a_ne, links.c.a_port, links.c.b_ne, links.c.b_port)
        if source is not None:
            q = q.where(links.c.source == source)
        with self._transaction("listing links") as conn:
            return [
                Link(r.a_ne, r.a_port, r.b_ne, r.b_port, r.source, r.last_seen)
                for r in conn.execute(q)
            ]

    def _add_link_if_missing(self, conn: Connection, link: Link, now: float) -> None:
        c = link.canonical()
        exists = conn.execute(
            select(links.c.id).where(
                links.c.a_ne == c.a_ne,
                links.c.a_port == c.a_port,
                links.c.b_ne == c.b_ne,
                links.c.b_port == c.b_port,
                links.c.source == c.source,
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(links).values(
                    a_ne=c.a_ne,
                    a_port=c.a_port,
                    b_ne=c.b_ne,
                    b_port=c.b_port,
                    source=c.source,
                    last_seen=c.last_seen or now,
                )
            )

    # -- event log --------------------------------------------------------------------------

    def insert_events(self, rows: Sequence[Event]) -> int:
        """Insert events, skipping ids already stored; returns how many rows were new."""
        if not rows:
            return 0
        with self._transaction(f"writing {len(rows)} events") as conn:
            return eventlog.insert_events(conn, self.dialect, rows)

    def query_events(
        self,
        *,
        ne: str | Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        types: Sequence[str] | None = None,
        min_severity: int | None = None,
        limit: int = 100,
        before: tuple[float, str] | None = None,
    ) -> list[Event]:
        """Events newest first. ``since`` is inclusive, ``until`` exclusive.

        Paging: pass the (time, id) of the last event of a page as ``before`` for the next.
        """
        t = event_log
        q = select(t).order_by(t.c.time.desc(), t.c.id.desc())
        if isinstance(ne, str):
            q = q.where(t.c.ne == ne)
        elif ne is not None:
            q = q.where(t.c.ne.in_(list(ne)))
        if since is not None:
            q = q.where(t.c.time >= since)
        if until is not None:
            q = q.where(t.c.time < until)
        if types:
            q = q.where(t.c.type.in_(list(types)))
        if min_severity is not None:
            q = q.where(t.c.severity >= int(min_severity))
        if before is not None:
            b_time, b_id = before
            q = q.where(or_(t.c.time < b_time, and_(t.c.time == b_time, t.c.id < b_id)))
        q = q.limit(max(1, min(int(limit), _MAX_QUERY_LIMIT)))
        with self._transaction("querying events") as conn:
            return [eventlog.event_from_row(row) for row in conn.execute(q)]

    def search_events(
        self, query: EventQuery, *, cursor: str | None = None, limit: int = 100
    ) -> Page:
        """One page of the peered event-log service (see shared/eventquery.py)."""
        at = Cursor.decode(cursor, query) if cursor else None
        with self._transaction("searching events") as conn:
            rowids = self._text_candidates(conn, query)
            stmt = eventsearch.page_statement(query, at, limit, self.dialect, rowids)
            rows = [eventlog.event_from_row(row) for row in conn.execute(stmt)]
        return page_of(rows, limit, query)

    def event_counts(self, query: EventQuery) -> Counts:
        """How many events match, by severity and by NE."""
        with self._transaction("counting events") as conn:
            rowids = self._text_candidates(conn, query)
            statements = eventsearch.count_statements(query, self.dialect, rowids)
            return eventsearch.counts_from([list(conn.execute(s)) for s in statements])

    def has_text_index(self) -> bool:
        """Whether free-text search has its index here (`emspool doctor` reports it)."""
        with self._transaction("looking for the event text index") as conn:
            return textsearch.has_index(conn, self.dialect)

    def index_event_text(self, limit: int) -> int:
        """SQLite: bring up to ``limit`` newly written events into the FTS index (the agents
        call it every half second); returns how many. 0 on PostgreSQL (its GIN index is kept
        in the insert) and without the index."""
        if self.dialect != "sqlite" or not self._has_fts():
            return 0
        with self._transaction("indexing event text") as conn:
            return textsearch.sqlite_index_pending(conn, limit)

    def text_index_lag(self) -> int:
        """SQLite: events written but not yet in the FTS index (0 elsewhere)."""
        if self.dialect != "sqlite" or not self._has_fts():
            return 0
        with self._transaction("reading the event text index") as conn:
            return textsearch.sqlite_lag(conn)

    def _has_fts(self) -> bool:
        if self._fts is None:  # looked up once: only a migration adds it
            with self._transaction("looking for the event text index") as conn:
                self._fts = textsearch.has_index(conn, self.dialect)
        return self._fts

    def _text_candidates(self, conn: Connection, query: EventQuery) -> str | None:
        """SQLite, a rare text: the rowids its FTS index gives (agent/textsearch.py), else
        None. PostgreSQL's planner picks its trigram index by itself."""
        if self.dialect != "sqlite" or len(query.text) < textsearch.TRIGRAM_MIN:
            return None
        return textsearch.sqlite_rare_rowids(conn, query.text) if self._has_fts() else None

    def count_events(self) -> int:
        with self._transaction("counting events") as conn:
            return int(conn.execute(select(func.count()).select_from(event_log)).scalar_one())

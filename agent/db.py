"""The pool database (SQLite or PostgreSQL): inventory, links and the event log.

Sync on purpose: the agent calls it from worker threads (``asyncio.to_thread``). The
Engine and its pool are thread-safe and every method runs in its own short transaction.
SQLAlchemy and DBAPI errors never leave this module: they become ``DatabaseError`` (or
``NotFound`` / ``InventoryConflict``) with a message that names the URL without its password.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Row,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc

from shared.config import parse_profile
from shared.errors import ConfigError, DatabaseError, NotFound
from shared.model import (
    CredentialProfile,
    Event,
    LinkAlarms,
    NetworkElement,
    Protocol,
    Severity,
    SnmpVersion,
)
from shared.schema import (
    Link,
    credential_profiles,
    event_log,
    links,
    network_elements,
    snmp_engines,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Serialises concurrent migrations of agents starting together on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x656D73706F6F6C
_MAX_QUERY_LIMIT = 10_000
_SQLITE_CACHE_KIB = 64 * 1024


class InventoryConflict(DatabaseError):
    """An inventory change conflicts with what is stored (duplicate, still in use)."""


def safe_url(url: str | URL) -> str:
    """The URL fit for logs and error messages: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        return "<unparseable database URL>"


def _parse_url(url: str | URL) -> URL:
    try:
        u = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        raise DatabaseError(
            "invalid database URL (expected sqlite:///PATH or postgresql+psycopg://...)"
        ) from None
    backend = u.get_backend_name()
    if backend == "postgresql":
        # psycopg 3 is the only PostgreSQL driver we ship; accept the short scheme too.
        return u.set(drivername="postgresql+psycopg")
    if backend != "sqlite":
        raise DatabaseError(
            f"unsupported database {backend!r} in {safe_url(u)} (use sqlite or postgresql)"
        )
    return u


def _create_engine(url: str | URL, *, busy_timeout: float, connect_timeout: float) -> Engine:
    u = _parse_url(url)
    if u.get_backend_name() == "sqlite":
        return _sqlite_engine(u, busy_timeout)
    return create_engine(
        u,
        hide_parameters=True,  # parameters may be secrets (profiles): keep them out of errors
        pool_pre_ping=True,
        pool_size=4,
        max_overflow=4,
        pool_timeout=connect_timeout + 2,
        connect_args={
            "connect_timeout": max(1, math.ceil(connect_timeout)),
            # A server that vanishes without RST must not hang a worker thread forever.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": 15_000,
            "application_name": "emspool",
        },
    )


def _sqlite_engine(u: URL, busy_timeout: float) -> Engine:
    database = u.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatabaseError(f"cannot create the directory of {safe_url(u)}: {e}") from None
    engine = create_engine(u, hide_parameters=True, connect_args={"timeout": busy_timeout})
    busy_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # The event log's random-UUID key spreads inserts over the whole index; the 2 MB
            # default cache then misses on almost every row once the log has ~100k rows.
            cur.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
        finally:
            cur.close()

    return engine


def _describe(e: BaseException, password: str | None) -> str:
    """One line about a driver error, without SQL, parameters or the password."""
    orig = getattr(e, "orig", None)
    source = orig if isinstance(orig, BaseException) else e
    lines = str(source).strip().splitlines()
    message = f"{type(source).__name__}: {lines[0] if lines else 'no detail'}"
    if password:
        message = message.replace(password, "***")
    return message


def migrate(url: str, *, busy_timeout: float = 5.0, connect_timeout: float = 3.0) -> str:
    """Upgrade the database at ``url`` to the newest schema; returns the head revision."""
    engine = _create_engine(url, busy_timeout=busy_timeout, connect_timeout=connect_timeout)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    except (sa_exc.SQLAlchemyError, sqlite3.Error) as e:
        raise DatabaseError(
            f"migrating {safe_url(engine.url)} failed: {_describe(e, engine.url.password)}"
        ) from e
    finally:
        engine.dispose()
    log.info("database %s at schema revision %s", safe_url(engine.url), revision)
    return str(revision)


class Database:
    """Inventory, links and event log of one pool. Thread-safe; each call is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._password = engine.url.password
        self.url = safe_url(engine.url)
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str, *, busy_timeout: float = 5.0, connect_timeout: float = 3.0) -> Database:
        """Open (lazily connect to) ``sqlite:///path`` or ``postgresql+psycopg://...``."""
        return cls(_create_engine(url, busy_timeout=busy_timeout, connect_timeout=connect_timeout))

    def close(self) -> None:
        self._engine.dispose()

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
                f"{what}: conflicts with stored data ({_describe(e, self._password)})"
            ) from e
        except (sa_exc.SQLAlchemyError, sqlite3.Error) as e:
            raise DatabaseError(
                f"{what} failed on {self.url}: {_describe(e, self._password)}"
            ) from e

    def transaction(self, what: str) -> AbstractContextManager[Connection]:
        """One transaction with this module's error mapping (for agent/pooldb.py)."""
        return self._transaction(what)

    def db_time(self) -> float:
        """The database server's clock in epoch seconds (leases are timed by it, not by us)."""
        if self.dialect == "postgresql":
            expr = text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
        else:
            expr = text("SELECT (julianday('now') - 2440587.5) * 86400.0")
        with self._transaction("reading the database clock") as conn:
            return float(conn.execute(expr).scalar_one())

    # -- credential profiles ----------------------------------------------------------------

    def upsert_profile(self, profile: CredentialProfile) -> bool:
        """Create or update a profile; returns False when it was already stored as is."""
        with self._transaction(f"saving profile {profile.name!r}") as conn:
            return self._upsert_profile(conn, profile, time.time())

    def get_profiles(self) -> dict[str, CredentialProfile]:
        with self._transaction("reading profiles") as conn:
            rows = conn.execute(select(credential_profiles).order_by(credential_profiles.c.name))
            return {row.name: _profile_from_row(row) for row in rows}

    def get_profile(self, name: str) -> CredentialProfile:
        with self._transaction(f"reading profile {name!r}") as conn:
            row = conn.execute(
                select(credential_profiles).where(credential_profiles.c.name == name)
            ).first()
        if row is None:
            raise NotFound(f"credential profile {name!r} not found")
        return _profile_from_row(row)

    def remove_profile(self, name: str) -> None:
        with self._transaction(f"removing profile {name!r}") as conn:
            users = (
                conn.execute(
                    select(network_elements.c.name)
                    .where(network_elements.c.profile == name)
                    .order_by(network_elements.c.name)
                )
                .scalars()
                .all()
            )
            if users:
                shown = ", ".join(users[:5]) + (", ..." if len(users) > 5 else "")
                raise InventoryConflict(
                    f"credential profile {name!r} is used by {len(users)} NE(s) ({shown}); "
                    "move or remove them first"
                )
            deleted = conn.execute(
                delete(credential_profiles).where(credential_profiles.c.name == name)
            ).rowcount
        if not deleted:
            raise NotFound(f"credential profile {name!r} not found")

    def _upsert_profile(self, conn: Connection, p: CredentialProfile, now: float) -> bool:
        values = _profile_values(p)
        t = credential_profiles
        row = conn.execute(select(t).where(t.c.name == p.name)).first()
        if row is None:
            conn.execute(insert(t).values(name=p.name, created=now, updated=now, **values))
            return True
        if all(getattr(row, k) == v for k, v in values.items()):
            return False
        conn.execute(update(t).where(t.c.name == p.name).values(updated=now, **values))
        return True

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

    def list_nes(self) -> list[NetworkElement]:
        with self._transaction("listing NEs") as conn:
            rows = conn.execute(select(network_elements).order_by(network_elements.c.name))
            return [_ne_from_row(row) for row in rows]

    def get_ne(self, name: str) -> NetworkElement:
        with self._transaction(f"reading NE {name!r}") as conn:
            row = conn.execute(
                select(network_elements).where(network_elements.c.name == name)
            ).first()
        if row is None:
            raise NotFound(f"NE {name!r} not found")
        return _ne_from_row(row)

    def update_ne(self, name: str, **changes: Any) -> NetworkElement:
        """Change some fields of a stored NE (``managed=False``, ``link_alarms=...``)."""
        with self._transaction(f"updating NE {name!r}") as conn:
            row = conn.execute(
                select(network_elements).where(network_elements.c.name == name)
            ).first()
            if row is None:
                raise NotFound(f"NE {name!r} not found")
            try:
                ne = dataclasses.replace(_ne_from_row(row), **changes)
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
        values = _ne_values(ne)
        row = conn.execute(select(t).where(t.c.name == ne.name)).first()
        if row is None:
            conn.execute(insert(t).values(name=ne.name, created=now, updated=now, **values))
            return True
        if not replace:
            raise InventoryConflict(f"NE {ne.name!r} already exists")
        if all(getattr(row, k) == v for k, v in values.items()):
            return False
        conn.execute(update(t).where(t.c.name == ne.name).values(updated=now, **values))
        return True

    # -- inventory import -------------------------------------------------------------------

    def import_inventory(self, data: Mapping[str, Any]) -> tuple[int, int]:
        """Apply a lab inventory document in one transaction.

        Returns how many profiles and NEs were created or changed: importing the same
        document twice returns (0, 0) the second time. Links are added as 'manual' ones.
        """
        profiles, nes, manual_links = _parse_inventory(data)
        now = time.time()
        with self._transaction("importing the inventory") as conn:
            n_profiles = sum(self._upsert_profile(conn, p, now) for p in profiles)
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
            if self.dialect == "postgresql":
                # One statement over arrays: ~2x executemany, and its rowcount is exact.
                result = conn.execute(_PG_INSERT_EVENTS, _event_arrays(rows))
            else:
                # Driver-level executemany: ~30% less CPU than Core's per-row dict processing.
                tuples = [_event_tuple(e) for e in rows]
                result = conn.exec_driver_sql(_SQLITE_INSERT_EVENTS, tuples)
            return max(0, result.rowcount)

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
            return [_event_from_row(row) for row in conn.execute(q)]

    def count_events(self) -> int:
        with self._transaction("counting events") as conn:
            return int(conn.execute(select(func.count()).select_from(event_log)).scalar_one())


_SQLITE_INSERT_EVENTS = (
    "INSERT INTO event_log (id, time, ne, type, severity, text, agent, obj, alarm_type) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)
_PG_INSERT_EVENTS = text(
    "INSERT INTO event_log (id, time, ne, type, severity, text, agent, obj, alarm_type) "
    "SELECT * FROM unnest(CAST(:id AS text[]), CAST(:time AS float8[]), CAST(:ne AS text[]), "
    "CAST(:type AS text[]), CAST(:severity AS int2[]), CAST(:text AS text[]), "
    "CAST(:agent AS text[]), CAST(:obj AS text[]), CAST(:alarm_type AS text[])) "
    "ON CONFLICT (id) DO NOTHING"
)


def _clean(value: str, size: int) -> str:
    """Fit a string to its column: a too-long name or a NUL (PostgreSQL refuses it in text)
    must not turn one event into a batch that fails forever and blocks the outbox."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:size]


_TEXT_MAX = 65_536


def _event_tuple(e: Event) -> tuple[object, ...]:
    return (
        e.id,
        float(e.time),
        _clean(e.ne, 100),
        _clean(e.type, 30),
        int(e.severity),
        _clean(e.text, _TEXT_MAX),
        _clean(e.agent, 100),
        _clean(e.obj, 255),
        _clean(e.alarm_type, 100),
    )


def _event_arrays(rows: Sequence[Event]) -> dict[str, list[Any]]:
    return {
        "id": [e.id for e in rows],
        "time": [float(e.time) for e in rows],
        "ne": [_clean(e.ne, 100) for e in rows],
        "type": [_clean(e.type, 30) for e in rows],
        "severity": [int(e.severity) for e in rows],
        "text": [_clean(e.text, _TEXT_MAX) for e in rows],
        "agent": [_clean(e.agent, 100) for e in rows],
        "obj": [_clean(e.obj, 255) for e in rows],
        "alarm_type": [_clean(e.alarm_type, 100) for e in rows],
    }


# -- row mapping ------------------------------------------------------------------------------


def _profile_values(p: CredentialProfile) -> dict[str, str]:
    return {
        "version": p.version.value,
        "community": p.community,
        "user": p.user,
        "auth_protocol": p.auth_protocol,
        "auth_key": p.auth_key,
        "priv_protocol": p.priv_protocol,
        "priv_key": p.priv_key,
        "password": p.password,
        "key_file": p.key_file,
        "context": p.context,
    }


def _profile_from_row(row: Row[Any]) -> CredentialProfile:
    return CredentialProfile(
        name=row.name,
        version=SnmpVersion(row.version),
        community=row.community,
        user=row.user,
        auth_protocol=row.auth_protocol,
        auth_key=row.auth_key,
        priv_protocol=row.priv_protocol,
        priv_key=row.priv_key,
        password=row.password,
        key_file=row.key_file,
        context=row.context,
    )


def _ne_values(ne: NetworkElement) -> dict[str, object]:
    return {
        "address": ne.address,
        "port": ne.port,
        "profile": ne.profile,
        "kind": ne.kind,
        "protocols": ",".join(sorted(p.value for p in ne.protocols)),
        "poll_interval": ne.poll_interval,
        "netconf_port": ne.netconf_port,
        "host_key": ne.host_key,
        "managed": ne.managed,
        "engine_id": ne.engine_id,
        "context": ne.context,
        "link_alarms": ne.link_alarms.value,
        "interface_alarms": json.dumps(dict(ne.interface_alarms), sort_keys=True),
    }


def _ne_from_row(row: Row[Any]) -> NetworkElement:
    return NetworkElement(
        name=row.name,
        address=row.address,
        port=row.port,
        profile=row.profile,
        kind=row.kind,
        protocols=frozenset(Protocol(p) for p in row.protocols.split(",") if p),
        poll_interval=row.poll_interval,
        netconf_port=row.netconf_port,
        host_key=row.host_key,
        managed=bool(row.managed),
        engine_id=row.engine_id,
        context=row.context,
        link_alarms=LinkAlarms(row.link_alarms),
        interface_alarms=_interface_alarms(json.loads(row.interface_alarms or "{}"), "stored"),
    )


def _interface_alarms(raw: Any, where: str) -> tuple[tuple[str, LinkAlarms], ...]:
    """{"ge-0/0/1": "ignore", "3": "monitor"} -> sorted pairs; ConfigError names the bad one."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: interface_alarms must be an object of name -> mode")
    out: list[tuple[str, LinkAlarms]] = []
    for key, mode in raw.items():
        try:
            out.append((str(key), LinkAlarms(str(mode).lower())))
        except ValueError:
            modes = ", ".join(m.value for m in LinkAlarms)
            raise ConfigError(
                f"{where}: interface_alarms[{key!r}]: {mode!r} is not one of {modes}"
            ) from None
    return tuple(sorted(out))


def _engine_id(raw: Any, where: str) -> str:
    """A pinned engine ID as hex (RFC 3411: 5..32 octets); ConfigError otherwise."""
    text = str(raw or "").strip().lower().removeprefix("0x").replace(":", "")
    if not text:
        return ""
    try:
        octets = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{where}: engine_id {raw!r} is not hex") from None
    if not 5 <= len(octets) <= 32:
        raise ConfigError(f"{where}: engine_id must be 5 to 32 octets, got {len(octets)}")
    return octets.hex()


def _event_from_row(row: Row[Any]) -> Event:
    return Event(
        id=row.id,
        time=row.time,
        ne=row.ne,
        type=row.type,
        severity=Severity(row.severity),
        text=row.text,
        agent=row.agent,
        obj=row.obj,
        alarm_type=row.alarm_type,
    )


# -- inventory document -----------------------------------------------------------------------


def _parse_inventory(
    data: Mapping[str, Any],
) -> tuple[list[CredentialProfile], list[NetworkElement], list[Link]]:
    """Validate the whole document before touching the database; ConfigError says where."""
    if not isinstance(data, Mapping):
        raise ConfigError("inventory: expected a JSON object")
    profiles = [_parse_profile(i, p) for i, p in enumerate(_list(data, "profiles"))]
    nes = [_parse_device(i, d) for i, d in enumerate(_list(data, "devices"))]
    for kind, names in (("profile", [p.name for p in profiles]), ("device", [n.name for n in nes])):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"inventory: duplicate {kind} name(s): {', '.join(dupes)}")
    found_links = [_parse_link(i, x) for i, x in enumerate(_list(data, "links"))]
    return profiles, nes, found_links


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"inventory: {key!r} must be a list")
    return value


def _field(where: str, d: Mapping[str, Any], key: str, default: Any = None) -> Any:
    if key in d and d[key] is not None:
        return d[key]
    if default is None:
        raise ConfigError(f"{where}: missing {key!r}")
    return default


def _parse_profile(i: int, d: Any) -> CredentialProfile:
    # The same validation as profiles in an agent's config file.
    if not isinstance(d, Mapping):
        raise ConfigError(f"inventory: profiles[{i}]: expected an object")
    fields = {k: v for k, v in d.items() if v is not None}
    if isinstance(fields.get("version"), str):
        fields["version"] = fields["version"].lower().removeprefix("v")
    return parse_profile(fields, f"inventory: profiles[{i}]")


def _parse_device(i: int, d: Any) -> NetworkElement:
    return parse_ne(d, f"inventory: devices[{i}]")


def parse_ne(d: Any, where: str) -> NetworkElement:
    """One NE record in the inventory's JSON form (also what `emspool ne add/set` build);
    ConfigError names ``where``, the NE and the bad field."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected an object")
    name = str(_field(where, d, "name"))
    where = f"{where} ({name})"
    try:
        port = int(_field(where, d, "port", 161))
        raw_protocols = d.get("protocols") or ["snmp"]
        if isinstance(raw_protocols, str):
            raw_protocols = raw_protocols.split(",")
        protocols = frozenset(Protocol(str(p).strip().lower()) for p in raw_protocols)
        interval = d.get("poll_interval")
        poll_interval = None if interval is None else float(interval)
        netconf_port = int(d.get("netconf_port") or 830)
        managed = d.get("managed", True)
        if not isinstance(managed, bool):
            raise ValueError(f"managed must be true or false, got {managed!r}")
        link_alarms = LinkAlarms(str(d.get("link_alarms") or "default").lower())
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: port {port} out of range")
    return NetworkElement(
        name=name,
        address=str(_field(where, d, "address")),
        port=port,
        profile=str(_field(where, d, "profile", "default")),
        kind=str(_field(where, d, "kind", "router")),
        protocols=protocols,
        poll_interval=poll_interval,
        netconf_port=netconf_port,
        host_key=str(d.get("host_key") or ""),
        managed=managed,
        engine_id=_engine_id(d.get("engine_id"), where),
        context=str(d.get("context") or ""),
        link_alarms=link_alarms,
        interface_alarms=_interface_alarms(d.get("interface_alarms") or {}, where),
    )


def _parse_link(i: int, d: Any) -> Link:
    where = f"inventory: links[{i}]"
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected an object")
    return Link(
        a_ne=str(_field(where, d, "a")),
        a_port=str(_field(where, d, "a_port")),
        b_ne=str(_field(where, d, "b")),
        b_port=str(_field(where, d, "b_port")),
        source="manual",
    )

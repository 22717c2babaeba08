"""Opening the pool database: URL checks, per-backend engine settings, migrations.

One job: from a URL (``sqlite:///PATH`` or ``postgresql+psycopg://...``) to a configured
SQLAlchemy Engine, and the schema upgraded to the newest revision. Driver errors become
``DatabaseError`` whose text names the URL without its password (``describe_error``).
"""

from __future__ import annotations

import logging
import math
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect

from shared.errors import DatabaseError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Serialises concurrent migrations of agents starting together on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x656D73706F6F6C
_SQLITE_CACHE_KIB = 64 * 1024


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


def open_engine(url: str | URL, *, busy_timeout: float, connect_timeout: float) -> Engine:
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


def describe_error(e: BaseException, password: str | None) -> str:
    """One line about a driver error, without SQL, parameters or the password."""
    orig = getattr(e, "orig", None)
    source = orig if isinstance(orig, BaseException) else e
    lines = str(source).strip().splitlines()
    message = f"{type(source).__name__}: {lines[0] if lines else 'no detail'}"
    if password:
        message = message.replace(password, "***")
    return message


class NewerSchema(DatabaseError):
    """The database was set up by a newer emspool: this one must not use or change it."""


def _newer(found: str) -> NewerSchema:
    return NewerSchema(
        f"database schema {found} is newer than this emspool knows (newest "
        f"{head_revision()}): upgrade emspool on this host before using it"
    )


class SchemaBehind(DatabaseError):
    """The database's schema is older than this emspool's: ``emspool db upgrade`` first."""


def prepare(url: str) -> str:
    """The schema check an agent makes at start; returns the revision.

    Migrations run only when asked (``emspool db upgrade``), so an upgrade is a step the
    operator takes once, after a backup, not a side effect of whichever agent restarts
    first. An empty database (a new pool) gets the schema: there is nothing to migrate.
    Agents already running on the old revision go on while the pool is upgraded one
    agent at a time: a revision only adds what older agents do not read."""
    found = current_revision(url)
    if found is None:
        return migrate(url)
    if found not in known_revisions():
        raise _newer(found)
    head = head_revision()
    if found != head:
        raise SchemaBehind(
            f"database schema {found} is older than this emspool's ({head}): run "
            "`emspool db upgrade` (after a backup) before starting this agent"
        )
    return found


def clock_sql(dialect: str) -> str:
    """An SQL expression for the database server's clock in epoch seconds."""
    if dialect == "postgresql":
        return "EXTRACT(EPOCH FROM clock_timestamp())"
    return "((julianday('now') - 2440587.5) * 86400.0)"


def migrate(url: str, *, busy_timeout: float = 5.0, connect_timeout: float = 3.0) -> str:
    """Upgrade the database at ``url`` to the newest schema; returns the head revision."""
    engine = open_engine(url, busy_timeout=busy_timeout, connect_timeout=connect_timeout)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            if sa_inspect(conn).has_table("alembic_version"):
                found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if found is not None and found not in known_revisions():
                    raise _newer(found)
            command.upgrade(cfg, "head")
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    except (sa_exc.SQLAlchemyError, sqlite3.Error) as e:
        raise DatabaseError(
            f"migrating {safe_url(engine.url)} failed: {describe_error(e, engine.url.password)}"
        ) from e
    finally:
        engine.dispose()
    log.info("database %s at schema revision %s", safe_url(engine.url), revision)
    return str(revision)


def head_revision() -> str:
    """The newest schema revision this emspool knows."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None, "the migrations directory has no head"
    return head


def known_revisions() -> set[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}


def current_revision(url: str, *, connect_timeout: float = 3.0) -> str | None:
    """The database's schema revision; None for a database no emspool has set up yet."""
    engine = open_engine(url, busy_timeout=5.0, connect_timeout=connect_timeout)
    try:
        with engine.connect() as conn:
            if not sa_inspect(conn).has_table("alembic_version"):
                return None
            value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return None if value is None else str(value)
    except (sa_exc.SQLAlchemyError, sqlite3.Error) as e:
        raise DatabaseError(
            f"reading the schema of {safe_url(engine.url)} failed: "
            f"{describe_error(e, engine.url.password)}"
        ) from e
    finally:
        engine.dispose()

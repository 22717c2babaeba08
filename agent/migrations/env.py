"""Alembic environment, driven programmatically by ``agent.db.migrate`` (no alembic.ini).

The caller hands over an open connection in ``config.attributes["connection"]``; the
``alembic`` command line also works with ``-x url=...`` for hand-run maintenance.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from agent.textsearch import outside_model
from shared.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The free-text index (FTS table, trigram index) is per dialect, outside the model.
        include_name=outside_model,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x url=... or use agent.db.migrate(url)")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) mode is not supported; migrate a live database")
run_migrations_online()

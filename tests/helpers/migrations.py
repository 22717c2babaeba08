"""Databases at an older schema: upgrade (or downgrade) to one given revision, as the
previous release left them, for the upgrade tests and the upgrade benchmark."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from agent.db import MIGRATIONS_DIR


def _alembic(url: str, step: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, step)(cfg, revision)
    finally:
        engine.dispose()


def upgrade_to(url: str, revision: str) -> None:
    _alembic(url, "upgrade", revision)


def downgrade_to(url: str, revision: str) -> None:
    _alembic(url, "downgrade", revision)

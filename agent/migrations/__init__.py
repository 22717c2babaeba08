"""Alembic environment of the pool database; run it through ``agent.db.migrate(url)``."""

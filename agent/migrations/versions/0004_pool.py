"""The pool: agent membership details, NE zones and pins, assignment version.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_AGENT_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("pub_endpoint", sa.String(255), ""),
    ("public_key", sa.String(64), ""),
    ("zones", sa.Text(), ""),
    ("weight", sa.Double(), "1"),
    ("version", sa.String(40), ""),
    ("started", sa.Double(), "0"),
    ("epoch", sa.BigInteger(), "0"),
)


def upgrade() -> None:
    with op.batch_alter_table("agents") as t:
        for name, type_, default in _AGENT_COLUMNS:
            t.add_column(sa.Column(name, type_, nullable=False, server_default=default))
        t.add_column(sa.Column("capacity", sa.Integer(), nullable=True))
    with op.batch_alter_table("network_elements") as t:
        t.add_column(sa.Column("zone", sa.String(100), nullable=False, server_default=""))
        t.add_column(sa.Column("pin", sa.String(100), nullable=False, server_default=""))
    op.create_table(
        "assignment_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("written", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_state")),
        sa.CheckConstraint("id = 1", name=op.f("ck_assignment_state_single_row")),
    )


def downgrade() -> None:
    op.drop_table("assignment_state")
    with op.batch_alter_table("network_elements") as t:
        t.drop_column("pin")
        t.drop_column("zone")
    with op.batch_alter_table("agents") as t:
        t.drop_column("capacity")
        for name, _type, _default in reversed(_AGENT_COLUMNS):
            t.drop_column(name)

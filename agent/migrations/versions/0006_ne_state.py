"""NE state snapshots written by each NE's owner, for database-sourced views.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ne_state",
        sa.Column("ne", sa.String(100), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("taken", sa.Double(), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=True),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ne", name=op.f("pk_ne_state")),
    )


def downgrade() -> None:
    op.drop_table("ne_state")

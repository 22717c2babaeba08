"""Bus keys with roles; agents report how many NEs they manage and their poll health.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as t:
        t.add_column(sa.Column("managed", sa.Integer(), nullable=False, server_default="0"))
        t.add_column(sa.Column("health", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "bus_keys",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("public_key", sa.String(40), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("revoked", sa.Double(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_bus_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_bus_keys_public_key")),
    )


def downgrade() -> None:
    op.drop_table("bus_keys")
    with op.batch_alter_table("agents") as t:
        t.drop_column("health")
        t.drop_column("managed")

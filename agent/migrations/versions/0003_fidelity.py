"""Real-device fidelity: unmanaged NEs, link-alarm policy, SNMPv3 engine IDs and contexts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("credential_profiles") as t:
        t.add_column(sa.Column("context", sa.String(100), nullable=False, server_default=""))
    with op.batch_alter_table("network_elements") as t:
        t.add_column(sa.Column("managed", sa.Boolean(), nullable=False, server_default="1"))
        t.add_column(sa.Column("engine_id", sa.String(64), nullable=False, server_default=""))
        t.add_column(sa.Column("context", sa.String(100), nullable=False, server_default=""))
        t.add_column(
            sa.Column("link_alarms", sa.String(10), nullable=False, server_default="default")
        )
        t.add_column(sa.Column("interface_alarms", sa.Text(), nullable=False, server_default="{}"))
    op.create_table(
        "snmp_engines",
        sa.Column("ne", sa.String(100), nullable=False),
        sa.Column("engine_id", sa.String(64), nullable=False),
        sa.Column("learned", sa.Double(), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("ne", name=op.f("pk_snmp_engines")),
    )


def downgrade() -> None:
    op.drop_table("snmp_engines")
    with op.batch_alter_table("network_elements") as t:
        for name in ("interface_alarms", "link_alarms", "context", "engine_id", "managed"):
            t.drop_column(name)
    with op.batch_alter_table("credential_profiles") as t:
        t.drop_column("context")

"""NETCONF: SSH credentials in profiles, NETCONF port and pinned host key per NE.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("credential_profiles") as t:
        t.add_column(sa.Column("password", sa.Text(), nullable=False, server_default=""))
        t.add_column(sa.Column("key_file", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("network_elements") as t:
        t.add_column(sa.Column("netconf_port", sa.Integer(), nullable=False, server_default="830"))
        t.add_column(sa.Column("host_key", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("network_elements") as t:
        t.drop_column("host_key")
        t.drop_column("netconf_port")
    with op.batch_alter_table("credential_profiles") as t:
        t.drop_column("key_file")
        t.drop_column("password")

"""Initial schema: inventory, pool membership, assignments, master lease, event log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "credential_profiles",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.String(4), nullable=False),
        sa.Column("community", sa.Text(), nullable=False, server_default=""),
        sa.Column("user", sa.String(100), nullable=False, server_default=""),
        sa.Column("auth_protocol", sa.String(16), nullable=False, server_default="none"),
        sa.Column("auth_key", sa.Text(), nullable=False, server_default=""),
        sa.Column("priv_protocol", sa.String(16), nullable=False, server_default="none"),
        sa.Column("priv_key", sa.Text(), nullable=False, server_default=""),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_credential_profiles")),
    )
    op.create_table(
        "network_elements",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("protocols", sa.String(100), nullable=False),
        sa.Column("poll_interval", sa.Double(), nullable=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_network_elements")),
        sa.UniqueConstraint("address", "port", name=op.f("uq_network_elements_address_port")),
        sa.ForeignKeyConstraint(
            ["profile"],
            ["credential_profiles.name"],
            name=op.f("fk_network_elements_profile_credential_profiles"),
            ondelete="RESTRICT",
        ),
    )
    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("a_ne", sa.String(100), nullable=False),
        sa.Column("a_port", sa.String(100), nullable=False),
        sa.Column("b_ne", sa.String(100), nullable=False),
        sa.Column("b_port", sa.String(100), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint(
            "a_ne",
            "a_port",
            "b_ne",
            "b_port",
            "source",
            name=op.f("uq_links_a_ne_a_port_b_ne_b_port_source"),
        ),
    )
    op.create_index(op.f("ix_links_b_ne"), "links", ["b_ne"])
    op.create_table(
        "agents",
        sa.Column("node_id", sa.String(100), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("endpoint", sa.String(255), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_agents")),
    )
    op.create_table(
        "assignments",
        sa.Column("ne", sa.String(100), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ne", name=op.f("pk_assignments")),
    )
    op.create_index(op.f("ix_assignments_agent"), "assignments", ["agent"])
    op.create_table(
        "master_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_lease")),
        sa.CheckConstraint("id = 1", name=op.f("ck_master_lease_single_row")),
    )
    op.create_table(
        "event_log",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("ne", sa.String(100), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("obj", sa.String(255), nullable=False, server_default=""),
        sa.Column("alarm_type", sa.String(100), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log")),
        sa.CheckConstraint("severity BETWEEN 0 AND 5", name=op.f("ck_event_log_severity_range")),
    )
    op.create_index(op.f("ix_event_log_time_id"), "event_log", ["time", "id"])
    op.create_index(op.f("ix_event_log_ne_time"), "event_log", ["ne", "time"])


def downgrade() -> None:
    op.drop_table("event_log")
    op.drop_table("master_lease")
    op.drop_table("assignments")
    op.drop_table("agents")
    op.drop_table("links")
    op.drop_table("network_elements")
    op.drop_table("credential_profiles")

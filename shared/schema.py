"""SQL schema of a pool's database (SQLAlchemy Core). Pure definitions: no engine here.

Every time column is epoch seconds as a double: the same type on SQLite and PostgreSQL,
directly comparable with ``Event.time`` and ``time.time()``, and cheap to index.
Migrations (``agent/migrations``) must produce exactly these tables; a test compares them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Stable constraint names, so later Alembic migrations can refer to them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

credential_profiles = Table(
    "credential_profiles",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("version", String(4), nullable=False),
    Column("community", Text, nullable=False, server_default=""),
    Column("user", String(100), nullable=False, server_default=""),
    Column("auth_protocol", String(16), nullable=False, server_default="none"),
    Column("auth_key", Text, nullable=False, server_default=""),
    Column("priv_protocol", String(16), nullable=False, server_default="none"),
    Column("priv_key", Text, nullable=False, server_default=""),
    Column("password", Text, nullable=False, server_default=""),  # NETCONF over SSH
    Column("key_file", Text, nullable=False, server_default=""),
    Column("context", String(100), nullable=False, server_default=""),  # SNMPv3 context name
    Column("created", Double, nullable=False),
    Column("updated", Double, nullable=False),
)

network_elements = Table(
    "network_elements",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("address", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    # RESTRICT: a profile in use cannot disappear under its NEs.
    Column(
        "profile",
        String(100),
        ForeignKey("credential_profiles.name", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("kind", String(50), nullable=False),
    Column("protocols", String(100), nullable=False),  # comma-separated Protocol values
    Column("poll_interval", Double, nullable=True),  # NULL: the agent's default
    Column("netconf_port", Integer, nullable=False, server_default="830"),
    Column("host_key", Text, nullable=False, server_default=""),  # pinned SSH host key
    Column("managed", Boolean, nullable=False, server_default="1"),
    Column("engine_id", String(64), nullable=False, server_default=""),  # pinned, hex
    Column("context", String(100), nullable=False, server_default=""),
    Column("link_alarms", String(10), nullable=False, server_default="default"),
    Column("interface_alarms", Text, nullable=False, server_default="{}"),  # JSON object
    Column("zone", String(100), nullable=False, server_default=""),  # only agents serving it
    Column("pin", String(100), nullable=False, server_default=""),  # preferred agent
    Column("created", Double, nullable=False),
    Column("updated", Double, nullable=False),
    UniqueConstraint("address", "port"),
)

# SNMPv3 engine IDs the agents learnt (from discovery or authenticated traps), per NE:
# visible to operators, kept across restarts and handovers, reset when a device is replaced.
# Not inventory: a pinned ID lives in network_elements.engine_id and always wins.
snmp_engines = Table(
    "snmp_engines",
    metadata,
    Column("ne", String(100), primary_key=True),
    Column("engine_id", String(64), nullable=False),  # hex
    Column("learned", Double, nullable=False),
    Column("agent", String(100), nullable=False),
    Column("source", String(10), nullable=False),  # 'trap' or 'poll'
)

# No foreign keys to network_elements: LLDP reports neighbours that are not managed by us.
links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("a_ne", String(100), nullable=False),
    Column("a_port", String(100), nullable=False),
    Column("b_ne", String(100), nullable=False),
    Column("b_port", String(100), nullable=False),
    Column("source", String(20), nullable=False),  # 'lldp', 'manual', ...
    Column("last_seen", Double, nullable=False),
    UniqueConstraint("a_ne", "a_port", "b_ne", "b_port", "source"),
    Index(None, "b_ne"),
)

# Pool members: each agent keeps its own row fresh (last_seen by database time); the
# election runs over the bus, this table is how agents and clients find each other.
agents = Table(
    "agents",
    metadata,
    Column("node_id", String(100), primary_key=True),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("endpoint", String(255), nullable=False),  # ROUTER (requests)
    Column("last_seen", Double, nullable=False),
    Column("state", String(20), nullable=False),  # starting / follower / master / stopped
    Column("pub_endpoint", String(255), nullable=False, server_default=""),
    Column("public_key", String(64), nullable=False, server_default=""),  # CURVE, Z85
    Column("zones", Text, nullable=False, server_default=""),  # comma-separated
    Column("weight", Double, nullable=False, server_default="1"),
    Column("capacity", Integer, nullable=True),  # NEs at most; NULL: no limit
    Column("version", String(40), nullable=False, server_default=""),
    Column("started", Double, nullable=False, server_default="0"),
    Column("epoch", BigInteger, nullable=False, server_default="0"),  # the epoch it follows
    Column("managed", Integer, nullable=False, server_default="0"),  # NEs it polls now
    Column("health", Text, nullable=False, server_default=""),  # JSON: poll and trap counters
)

# The last snapshot of each NE's live state its owner wrote (shared/snapshot.py), so views
# drawn from the database show real NE data, not only the inventory.
ne_state = Table(
    "ne_state",
    metadata,
    Column("ne", String(100), primary_key=True),
    Column("agent", String(100), nullable=False),
    Column("taken", Double, nullable=False),
    Column("reachable", Boolean, nullable=True),
    Column("snapshot", Text, nullable=False),  # JSON
)

# Bus keys allowed on the pool's bus: CURVE public keys (Z85) with a role. Secret keys
# never come here; they stay in 0600 files on the host that owns them.
bus_keys = Table(
    "bus_keys",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("public_key", String(40), nullable=False, unique=True),
    Column("role", String(20), nullable=False),  # agent / operator / viewer (shared.wire.KeyRole)
    Column("created", Double, nullable=False),
    Column("revoked", Double, nullable=True),  # NULL: allowed
    Column("comment", Text, nullable=False, server_default=""),
)

assignments = Table(
    "assignments",
    metadata,
    Column("ne", String(100), primary_key=True),
    Column("agent", String(100), nullable=False, index=True),
    Column("epoch", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
)

# One row at most (id = 1): the assignment table's current epoch and version.
assignment_state = Table(
    "assignment_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("written", Double, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# One row at most (id = 1): the master's fencing lease, renewed by database time.
master_lease = Table(
    "master_lease",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(100), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("expires", Double, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

event_log = Table(
    "event_log",
    metadata,
    Column("id", String(36), primary_key=True),  # UUID text: replays from the outbox are no-ops
    Column("time", Double, nullable=False),
    Column("ne", String(100), nullable=False),
    Column("type", String(30), nullable=False),
    Column("severity", SmallInteger, nullable=False),  # X.733, 0..5
    Column("text", Text, nullable=False),
    Column("agent", String(100), nullable=False),
    Column("obj", String(255), nullable=False, server_default=""),
    Column("alarm_type", String(100), nullable=False, server_default=""),
    CheckConstraint("severity BETWEEN 0 AND 5", name="severity_range"),
    # (time, id) is the keyset-paging order; (ne, time) serves per-NE history and alarm rebuilds;
    # (time, severity, ne) answers counts over a time range from the index alone. The free-text
    # index is per dialect and outside this model (agent/textsearch.py).
    Index(None, "time", "id"),
    Index(None, "ne", "time"),
    Index(None, "time", "severity", "ne"),
)


@dataclass(frozen=True, slots=True)
class Link:
    """A physical link between two ports, stored with its ends in a canonical order."""

    a_ne: str
    a_port: str
    b_ne: str
    b_port: str
    source: str = "manual"
    last_seen: float = 0.0

    def canonical(self) -> Link:
        """The same link with the lower (ne, port) end first, so a->b and b->a coincide."""
        if (self.a_ne, self.a_port) <= (self.b_ne, self.b_port):
            return self
        return Link(self.b_ne, self.b_port, self.a_ne, self.a_port, self.source, self.last_seen)

    def to_dict(self) -> dict[str, object]:
        return {
            "a": self.a_ne,
            "a_port": self.a_port,
            "b": self.b_ne,
            "b_port": self.b_port,
            "source": self.source,
            "last_seen": self.last_seen,
        }

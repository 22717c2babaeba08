"""The pool as the database has it: members with a state checked against their heartbeat
age and the lease, the assignment table's epoch and version, and NEs per agent. One
reading, used by `emspool pool` and by the peered service, so both say the same."""

from __future__ import annotations

from typing import Any

from agent.pooldb import LeaseAnswer, MemberRow, PoolDb

# Agents write their row about every second; one that is this far behind has stopped
# (killed, paused, partitioned away from the database) whatever its row still says.
DEAD_AFTER = 5.0


def member_state(m: MemberRow, lease: LeaseAnswer | None) -> str:
    """master / follower / starting / dead: the row's word, checked against its age and
    the lease (a row may still say master after the lease went to someone else)."""
    if m.age > DEAD_AFTER or m.state == "stopped":
        return "dead"
    if m.state == "master" and (lease is None or lease.holder != m.node_id):
        return "follower"
    return m.state or "starting"


def pool_rows(pool: PoolDb) -> dict[str, Any]:
    members = pool.members()
    lease = pool.lease()
    table = pool.read_assignment()
    owned: dict[str, int] = {}
    for agent in table.owners.values():
        owned[agent] = owned.get(agent, 0) + 1
    rows = []
    for m in members:
        d = m.to_dict()
        d["state"] = member_state(m, lease)
        d["assigned"] = owned.get(m.node_id, 0)
        rows.append(d)
    master = lease.holder if lease is not None and lease.expires_in > 0 else ""
    return {
        "master": master,
        "epoch": lease.epoch if lease is not None else 0,
        "assignment": {"epoch": table.epoch, "version": table.version, "nes": len(table.owners)},
        "members": rows,
        "orphans": sorted(
            ne for ne, a in table.owners.items() if a not in {m.node_id for m in members}
        ),
    }

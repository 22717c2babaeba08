"""`emspool pool`: the pool's members as the database has them (a peered view: any agent
answers the same), through a random agent like the other commands, or read from the
database directly when no agent answers (when it is most needed); and `pool forget` for a
member that is gone for good."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from agent import busclient
from agent.cliopts import agent_request, open_db, output
from agent.pooldb import PoolDb
from agent.poolview import member_state, pool_rows


def _polls(health: dict[str, Any]) -> str:
    """Polls that succeeded out of all, SNMP and NETCONF together (the agents row's counters
    since that agent started)."""
    total = failed = 0
    for proto in ("snmp", "netconf"):
        n, f = health.get(f"{proto}_polls"), health.get(f"{proto}_failures")
        if isinstance(n, int) and isinstance(f, int):
            total, failed = total + n, failed + f
    if not health:
        return "-"
    return f"{total - failed}/{total}" if total else "0"


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _table(data: dict[str, Any]) -> str:
    head = (
        f"master {data['master'] or '(none)'}, epoch {data['epoch']}, assignment version "
        f"{data['assignment']['version']} ({data['assignment']['nes']} NEs)"
    )
    cols = ("NODE", "STATE", "PRIO", "EPOCH", "NES", "ASSIGNED", "POLLS OK", "SEEN", "ZONES")
    lines = [head, "", "{:<16} {:<9} {:>5} {:>6} {:>5} {:>8} {:>10} {:>7}  {}".format(*cols)]
    for m in data["members"]:
        lines.append(
            "{:<16} {:<9} {:>5} {:>6} {:>5} {:>8} {:>10} {:>7}  {}".format(
                m["node_id"],
                m["state"],
                m["priority"],
                m["epoch"],
                m["managed"],
                m["assigned"],
                _polls(m["health"]),
                _ago(m["age"]),
                ",".join(m["zones"]) or "-",
            )
        )
        if m["version"]:
            lines[-1] += f"  v{m['version']}"
    if not data["members"]:
        lines.append("(no agent has joined this database)")
    if data["orphans"]:
        lines.append(f"\nassigned to agents no longer listed: {', '.join(data['orphans'][:20])}")
    return "\n".join(lines)


def cmd_pool(args: argparse.Namespace) -> int:
    data: dict[str, Any] | None = None
    if not args.direct:
        try:
            data = agent_request(args, "db.pool")
        except busclient.Unreachable as e:
            print(f"emspool: {e}: the pool as the database has it, read directly", file=sys.stderr)
    if data is None:
        db = open_db(args)
        try:
            data = pool_rows(PoolDb(db))
        finally:
            db.close()
        data["fetched"] = time.time()
    output(args, data, _table(data))
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    db = open_db(args)
    try:
        pool = PoolDb(db)
        known = {m.node_id: m for m in pool.members()}
        m = known.get(args.node)
        if m is None:
            print(f"emspool: no agent {args.node!r} in the pool")
            return 1
        if member_state(m, pool.lease()) != "dead" and not args.force:
            print(
                f"emspool: agent {args.node!r} is alive (seen {_ago(m.age)} ago); stop it "
                "first or use --force (a live agent simply writes its row again)"
            )
            return 1
        pool.forget_member(args.node)
    finally:
        db.close()
    print(f"forgot agent {args.node}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pool",
        help="the pool's members: state, epoch, NEs, health (through an agent, else the database)",
    )
    p.add_argument(
        "--direct",
        action="store_true",
        help="read the database directly, without asking an agent (no bus key needed)",
    )
    p.set_defaults(func=cmd_pool)
    verbs = p.add_subparsers(dest="pool_command")
    f = verbs.add_parser("forget", help="remove a dead agent's row from the pool")
    f.add_argument("node", help="node id")
    f.add_argument("--force", action="store_true", help="even if it looks alive")
    f.set_defaults(func=cmd_forget)

"""`emspool`: the admin CLI — inventory, queries, live view, the lab and the demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from agent import busclient
from agent.tables import table, when
from shared.config import parse_profile
from shared.errors import ConfigError, EmspoolError
from shared.model import NetworkElement, Protocol

DEFAULT_DB = "sqlite:///var/emspool.db"
DEFAULT_AGENT = "tcp://127.0.0.1:7700"


def _setting(args: argparse.Namespace, flag: str, from_config: str, env: str, default: str) -> str:
    """A flag wins, then the agent config given with --config, then the environment."""
    if getattr(args, flag):
        return str(getattr(args, flag))
    if args.config:
        from agent.main import load_config

        return str(getattr(load_config(args.config), from_config))
    return os.environ.get(env, default)


def _db_url(args: argparse.Namespace) -> str:
    return _setting(args, "db", "effective_database_url", "EMSPOOL_DB", DEFAULT_DB)


def _agent(args: argparse.Namespace) -> str:
    return _setting(args, "agent", "router_endpoint", "EMSPOOL_AGENT", DEFAULT_AGENT)


def _open_db(args: argparse.Namespace) -> Any:
    from agent.db import Database, migrate

    url = _db_url(args)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    migrate(url)
    return Database.open(url)


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


# -- inventory ------------------------------------------------------------------------
def cmd_ne_list(args: argparse.Namespace) -> int:
    db = _open_db(args)
    try:
        nes = db.list_nes()
        learned = db.learned_engines()
    finally:
        db.close()
    rows = [
        (n.name, n.kind, f"{n.address}:{n.port}", n.profile, ",".join(sorted(n.protocols)))
        for n in nes
    ]
    _print(
        args,
        [n.to_dict() | {"learned_engine_id": learned.get(n.name, "")} for n in nes],
        table(("name", "kind", "address", "profile", "protocols"), rows),
    )
    return 0


def cmd_ne_reset_engine(args: argparse.Namespace) -> int:
    db = _open_db(args)
    try:
        db.get_ne(args.name)  # NotFound for a name that is not in the inventory
        had = db.reset_engine(args.name)
    finally:
        db.close()
    what = "forgot its learnt SNMP engine ID" if had else "no learnt SNMP engine ID to forget"
    try:
        busclient.request(_agent(args), "reload", timeout=args.timeout)
    except busclient.Unreachable as e:
        print(f"{args.name}: {what}; no running agent told ({e})")
        return 0
    print(f"{args.name}: {what}; the agent reloads and learns it from the next trap")
    return 0


def cmd_ne_add(args: argparse.Namespace) -> int:
    ne = NetworkElement(
        name=args.name,
        address=args.address,
        port=args.port,
        profile=args.profile,
        kind=args.kind,
        protocols=frozenset(Protocol(p) for p in args.protocols.split(",")),
        poll_interval=args.interval,
    )
    db = _open_db(args)
    try:
        db.add_ne(ne, replace=args.replace)
    finally:
        db.close()
    print(f"added {ne.name}")
    return 0


def cmd_ne_remove(args: argparse.Namespace) -> int:
    db = _open_db(args)
    try:
        for name in args.names:
            db.remove_ne(name)
            print(f"removed {name}")
    finally:
        db.close()
    return 0


def cmd_ne_import(args: argparse.Namespace) -> int:
    try:
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{args.file}: cannot read inventory: {e}") from None
    db = _open_db(args)
    try:
        profiles, nes = db.import_inventory(data)
    finally:
        db.close()
    print(f"imported {profiles} profiles and {nes} NEs from {args.file}")
    return 0


def cmd_profile_list(args: argparse.Namespace) -> int:
    db = _open_db(args)
    try:
        profiles = db.get_profiles()
    finally:
        db.close()
    data = [p.redacted() for p in profiles.values()]
    rows = [
        (d["name"], d["version"], d["user"], d["auth_protocol"], d["priv_protocol"]) for d in data
    ]
    _print(args, data, table(("name", "version", "user", "auth", "priv"), rows))
    return 0


def cmd_profile_import(args: argparse.Namespace) -> int:
    import tomllib

    try:
        doc = tomllib.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{args.file}: cannot read profiles: {e}") from None
    items = doc.get("profiles", [])
    if not isinstance(items, list):
        raise ConfigError(f"{args.file}: expected [[profiles]] tables")
    profiles = [parse_profile(p, f"{args.file}: profiles[{i}]") for i, p in enumerate(items)]
    db = _open_db(args)
    try:
        for p in profiles:
            db.upsert_profile(p)
    finally:
        db.close()
    print(f"stored {len(profiles)} profiles (secrets are not shown)")
    return 0


# -- queries ----------------------------------------------------------------------------
def cmd_alarms(args: argparse.Namespace) -> int:
    alarms = busclient.request(
        _agent(args),
        "alarms",
        {"ne": args.ne, "include_cleared": args.all, "min_severity": args.min_severity},
        timeout=args.timeout,
    )
    rows = [
        (
            a["severity"],
            a["ne"],
            a["obj"],
            a["type"],
            "active" if a["active"] else "cleared",
            a["count"],
            when(a["raised_at"]),
            a["acked_by"],
            a["text"],
        )
        for a in alarms
    ]
    _print(
        args,
        alarms,
        table(("severity", "ne", "object", "type", "state", "n", "raised", "ack", "text"), rows),
    )
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    user = args.user or os.environ.get("USER") or "operator"
    res = busclient.request(
        _agent(args),
        "ack",
        {"ne": args.ne, "obj": args.obj, "type": args.type, "user": user, "undo": args.undo},
        timeout=args.timeout,
    )
    _print(args, res, f"{'un' if args.undo else ''}acknowledged {args.ne}/{args.obj}/{args.type}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    db = _open_db(args)
    try:
        events = db.query_events(ne=args.ne, limit=args.limit)
    finally:
        db.close()
    rows = [(when(e.time), e.severity.label, e.ne, e.type, e.obj, e.agent, e.text) for e in events]
    _print(
        args,
        [e.to_dict() for e in events],
        table(("time", "severity", "ne", "type", "object", "agent", "text"), rows),
    )
    return 0


def cmd_links(args: argparse.Namespace) -> int:
    db = _open_db(args)
    try:
        found = db.list_links(args.source)
    finally:
        db.close()
    data = [
        {
            "a": k.a_ne,
            "a_port": k.a_port,
            "b": k.b_ne,
            "b_port": k.b_port,
            "source": k.source,
            "last_seen": k.last_seen,
        }
        for k in found
    ]
    rows = [
        (d["a"], d["a_port"], d["b"], d["b_port"], d["source"], when(d["last_seen"])) for d in data
    ]
    _print(args, data, table(("ne a", "port a", "ne b", "port b", "source", "seen"), rows))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    res = busclient.request(_agent(args), "status", timeout=args.timeout)
    _print(args, res, json.dumps(res, indent=2))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from agent.watch import watch

    return watch(_agent(args), args.pub, duration=args.duration)


def cmd_demo(args: argparse.Namespace) -> int:
    from agent.demo import run_demo

    return run_demo(args)


# -- parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="emspool", description="emspool admin CLI")
    ap.add_argument("--db", help=f"database URL (default: $EMSPOOL_DB or {DEFAULT_DB})")
    ap.add_argument("--config", help="take the database URL and agent endpoint from this config")
    ap.add_argument("--agent", help=f"agent request endpoint (default {DEFAULT_AGENT})")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--timeout", type=float, default=5.0, help="request deadline, seconds")
    sub = ap.add_subparsers(dest="command", required=True)

    ne = sub.add_parser("ne", help="network element inventory").add_subparsers(
        dest="ne_cmd", required=True
    )
    p = ne.add_parser("list", help="list NEs")
    p.set_defaults(func=cmd_ne_list)
    p = ne.add_parser("add", help="add an NE")
    p.add_argument("name")
    p.add_argument("address")
    p.add_argument("--port", type=int, default=161)
    p.add_argument("--profile", default="default", help="credentials profile name")
    p.add_argument("--kind", default="router")
    p.add_argument("--protocols", default="snmp", help="snmp, netconf or snmp,netconf")
    p.add_argument("--interval", type=float, default=None, help="poll interval override (s)")
    p.add_argument("--replace", action="store_true", help="overwrite an existing NE")
    p.set_defaults(func=cmd_ne_add)
    p = ne.add_parser("remove", help="remove NEs")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=cmd_ne_remove)
    p = ne.add_parser(
        "reset-engine",
        help="forget an NE's learnt SNMPv3 engine ID and clock (a replaced device)",
    )
    p.add_argument("name")
    p.set_defaults(func=cmd_ne_reset_engine)
    p = ne.add_parser("import", help="import an inventory JSON file (e.g. the lab's)")
    p.add_argument("file")
    p.set_defaults(func=cmd_ne_import)

    prof = sub.add_parser("profile", help="credentials profiles").add_subparsers(
        dest="profile_cmd", required=True
    )
    p = prof.add_parser("list", help="list profiles (secrets are never shown)")
    p.set_defaults(func=cmd_profile_list)
    p = prof.add_parser("import", help="store [[profiles]] from a TOML file")
    p.add_argument("file")
    p.set_defaults(func=cmd_profile_import)

    p = sub.add_parser("alarms", help="live alarms from the agent's memory")
    p.add_argument("--ne")
    p.add_argument("--all", action="store_true", help="include cleared alarms")
    p.add_argument("--min-severity", default="indeterminate")
    p.set_defaults(func=cmd_alarms)

    p = sub.add_parser("ack", help="acknowledge an alarm")
    p.add_argument("ne")
    p.add_argument("type", help="alarm type, e.g. link-down")
    p.add_argument("--obj", default="", help="managed object, e.g. ifIndex=3")
    p.add_argument("--user")
    p.add_argument("--undo", action="store_true", help="remove the acknowledgement")
    p.set_defaults(func=cmd_ack)

    p = sub.add_parser("events", help="the event log (from the database)")
    p.add_argument("--ne")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("links", help="topology links (LLDP-discovered or imported)")
    p.add_argument("--source", help="only links from this source (lldp, manual, ...)")
    p.set_defaults(func=cmd_links)

    p = sub.add_parser("status", help="an agent's status and counters")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("watch", help="live alarm and event view in the terminal")
    p.add_argument("--pub", help="the agent's event endpoint (default: asked from the agent)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: never)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("demo", help="lab + agent + live view, with scripted faults")
    p.add_argument("--count", type=int, default=8, help="simulated NEs")
    p.add_argument("--topology", default="ring", choices=("ring", "mesh", "leaf-spine"))
    p.add_argument("--dir", default="var/demo", help="state directory")
    p.add_argument("--interval", type=float, default=5.0, help="poll interval (s)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: Ctrl-C)")
    p.add_argument("--netconf-share", type=float, default=0.25, help="share of NETCONF NEs")
    p.add_argument("--no-faults", action="store_true", help="do not inject faults")
    p.set_defaults(func=cmd_demo)

    try:
        from lab.cli import register
    except ImportError:  # the lab extra is not installed
        pass
    else:
        register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except busclient.Unreachable as e:
        print(f"emspool: {e} (is the agent running? see --agent)", file=sys.stderr)
        return 3
    except EmspoolError as e:
        print(f"emspool: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

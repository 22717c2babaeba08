"""`emspool`: the admin CLI — inventory, queries, live view, the lab and the demo."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, cast

from agent import busclient, cli_db, cli_keys, cli_ne, cli_pool, doctor
from agent.cliopts import (
    DEFAULT_DB,
    Parser,
    agent_request,
    bus_client,
    default_key,
    open_db,
    output,
)
from agent.tables import table, when
from shared.alarmpage import DEFAULT_PAGE, MAX_PAGE
from shared.config import parse_profile
from shared.errors import ConfigError, EmspoolError
from shared.eventquery import MAX_PAGE as MAX_EVENTS
from shared.eventquery import EventQuery
from shared.model import Severity
from shared.notes import MAX_NOTE_CHARS

PLUGIN_GROUP = "emspool.cli"
# Commands that come with optional parts of emspool, by name -> (help, the extra to install),
# so that `emspool` can say how to get them when they are missing.
OPTIONAL_COMMANDS = {
    "lab": ("simulated NEs (SNMP and NETCONF) on loopback", "lab"),
    "demo": ("lab + agent + live view, with scripted faults", "lab"),
}


# -- profiles ------------------------------------------------------------------------
def cmd_profile_list(args: argparse.Namespace) -> int:
    with open_db(args) as db:
        profiles = db.get_profiles()
    data = [p.redacted() for p in profiles.values()]
    rows = [
        (d["name"], d["version"], d["user"], d["auth_protocol"], d["priv_protocol"]) for d in data
    ]
    output(args, data, table(("name", "version", "user", "auth", "priv"), rows))
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
    with open_db(args, create=True) as db:
        for p in profiles:
            db.upsert_profile(p)
    print(f"stored {len(profiles)} profiles (secrets are not shown)")
    return 0


# -- queries ----------------------------------------------------------------------------
def cmd_alarms(args: argparse.Namespace) -> int:
    """The pool's alarms from every agent's memory, through one agent (federated)."""
    query: dict[str, Any] = {
        "ne": args.ne,
        "state": "all" if args.all else "active",
        "min_severity": args.min_severity,
    }
    if args.text:
        query["text"] = args.text
    if args.acked is not None:
        query["acked"] = args.acked
    if args.from_agent:
        query["agent"] = args.from_agent
    from agent.alarmpages import fetch_alarms

    with bus_client(args) as client:
        reply = fetch_alarms(client, query, limit=args.page_size)
    alarms = reply["items"]
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
            a.get("note_count") or "",
            a.get("agent", ""),
            a["text"],
        )
        for a in alarms
    ]
    heading = (
        "severity", "ne", "object", "type", "state", "n", "raised", "ack", "notes", "agent",
        "text",
    )  # fmt: skip
    text = table(heading, rows)
    if reply.get("missing"):
        gone = ", ".join(f"{n} ({why})" for n, why in sorted(reply["missing"].items()))
        text += f"\nPARTIAL: no answer from {gone}"
    output(args, reply if args.json else alarms, text)
    return 1 if reply.get("partial") else 0


def cmd_ack(args: argparse.Namespace) -> int:
    # The agent records the name of our bus key; ``user`` counts only on an insecure bus.
    user = args.user or os.environ.get("USER") or "operator"
    # Routed by whichever agent answers to the one that owns the NE.
    res = agent_request(
        args,
        "pool.ack",
        {"ne": args.ne, "obj": args.obj, "type": args.type, "user": user, "undo": args.undo},
    )
    output(args, res, f"{'un' if args.undo else ''}acknowledged {args.ne}/{args.obj}/{args.type}")
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    # The same alarm identity, route and recorded user as `emspool ack`.
    user = args.user or os.environ.get("USER") or "operator"
    text = " ".join(args.text)
    res = agent_request(
        args,
        "pool.note",
        {"ne": args.ne, "obj": args.obj, "type": args.type, "text": text, "user": user},
    )
    n = res.get("note_count", "?") if isinstance(res, dict) else "?"
    output(args, res, f"note {n} on {args.ne}/{args.obj}/{args.type} written")
    return 0


def _since(text: str | None) -> float | None:
    """'2h', '30m', '7d', '90s' ago, or epoch seconds; None when not given."""
    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            return time.time() - float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise ConfigError(f"not a time: {text!r} (use 30m, 2h, 7d or epoch seconds)") from None


def cmd_events(args: argparse.Namespace) -> int:
    """The event log through a random agent of the pool (peered: any agent answers the
    same from the database), one keyset page at a time."""
    query = EventQuery(
        since=_since(args.since),
        until=_since(args.until),
        nes=tuple(args.ne or ()),
        min_severity=Severity.parse(args.min_severity) if args.min_severity else None,
        types=tuple(args.type or ()),
        alarm_types=tuple(args.alarm_type or ()),
        agents=tuple(args.agent_name or ()),
        text=args.text or "",
        newest_first=not args.oldest,
    )
    if args.counts:
        counts = agent_request(args, "events.counts", query.to_args())
        by_sev: list[tuple[object, ...]] = sorted(counts["by_severity"].items())
        output(args, counts, table(("severity", "events"), by_sev))
        return 0
    page_args = query.to_args() | {"limit": args.limit}
    if args.cursor:
        page_args["cursor"] = args.cursor
    page = agent_request(args, "events.search", page_args)
    rows: list[tuple[object, ...]] = [
        (
            when(e["time"]),
            e["severity"],
            e["ne"],
            e["type"],
            e["obj"],
            e["agent"],
            e["text"],
        )
        for e in page["events"]
    ]
    text = table(("time", "severity", "ne", "type", "object", "agent", "text"), rows)
    if page.get("next_cursor"):
        text += f"\nmore: --cursor {page['next_cursor']}"
    output(args, page, text)
    return 0


def cmd_links(args: argparse.Namespace) -> int:
    """The topology links through a random agent of the pool (peered ``db.links``)."""
    reply = agent_request(args, "db.links", {"source": args.source} if args.source else {})
    data = reply["items"]
    rows = [
        (d["a"], d["a_port"], d["b"], d["b_port"], d["source"], when(d["last_seen"])) for d in data
    ]
    output(args, data, table(("ne a", "port a", "ne b", "port b", "source", "seen"), rows))
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    """Who the agents take this key for: its name and role, as one agent authenticated it."""
    res = agent_request(args, "whoami")
    if res.get("authenticated"):
        text = f"{res['name']} ({res['role']}), authenticated by agent {res['node_id']}"
    else:
        text = f"nobody authenticated: agent {res['node_id']} runs an insecure bus (a lab)"
    output(args, res, text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    res = agent_request(args, "status")
    text = json.dumps(res, indent=2)
    if res.get("bus_security", {}).get("secure") is False:
        text = f"WARNING: {res['bus_security']['warning']}\n{text}"
    output(args, res, text)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from agent.watch import watch

    with bus_client(args) as client:
        return watch(client, args.pub, duration=args.duration, resync_every=args.resync_every)


# -- plugins (the lab and the demo live outside the agent package) ---------------------------
def _add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands other installed parts register under the ``emspool.cli`` entry-point group
    (``name = "module:register"``, ``register(subparsers)`` adds the command). The agent
    package never imports them itself; a known one that is missing still gets a command
    that says how to install it."""
    from importlib.metadata import entry_points

    loaded: set[str] = set()
    broken: dict[str, str] = {}
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        if ep.name in loaded:
            continue  # the same plugin installed twice: the first one wins
        try:
            register = ep.load()
            register(sub)
        except ImportError as e:
            broken[ep.name] = str(e)
        except Exception as e:  # a broken plugin must not take `emspool ne list` with it
            broken[ep.name] = f"{type(e).__name__}: {e}"
            print(f"emspool: the {ep.name!r} command failed to load: {e}", file=sys.stderr)
        else:
            loaded.add(ep.name)
    for name, (help_text, extra) in OPTIONAL_COMMANDS.items():
        if name in loaded:
            continue
        p = sub.add_parser(name, help=f"{help_text} [not installed]", add_help=False)
        p.set_defaults(func=_not_installed, missing=(name, extra, broken.get(name)))


def _install_hint(extra: str) -> str:
    return f"pip install 'emspool[{extra}]' (in a checkout: scripts/setup)"


def _not_installed(args: argparse.Namespace) -> int:
    name, extra, why = args.missing
    reason = f" ({why})" if why else ""
    print(
        f"emspool: `emspool {name}` comes with the emspool {extra}, which is not installed "
        f"here{reason}; install it with: {_install_hint(extra)}",
        file=sys.stderr,
    )
    return 1


# -- parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="emspool", description="emspool admin CLI")
    ap.add_argument(
        "--db", help=f"database URL (default: from --config, else $EMSPOOL_DB, else {DEFAULT_DB})"
    )
    ap.add_argument("--config", help="take the database URL and agent endpoint from this config")
    ap.add_argument(
        "--agent",
        help="agents to ask: node ids or endpoints, comma-separated, one picked at random "
        "(default: from --config, else $EMSPOOL_AGENT, else every agent of the pool database)",
    )
    ap.add_argument(
        "--key",
        help=f"this operator's bus key file (default: $EMSPOOL_KEY, else {default_key()}; "
        "make one with `emspool keys create`)",
    )
    ap.add_argument(
        "--secrets-key",
        help="the pool secrets key file that encrypts profiles' secrets (default: "
        "$EMSPOOL_SECRETS_KEY, else the --config's secrets.key_file)",
    )
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--timeout", type=float, default=5.0, help="request deadline, seconds")
    # Plugins' register() takes a plain ArgumentParser's sub-commands (Parser is one).
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        ap.add_subparsers(dest="command", required=True),
    )

    cli_ne.register(sub)
    cli_keys.register(sub)
    cli_pool.register(sub)
    cli_db.register(sub)
    doctor.register(sub)

    prof = sub.add_parser("profile", help="credentials profiles").add_subparsers(
        dest="profile_cmd", required=True
    )
    p = prof.add_parser("list", help="list profiles (secrets are never shown)")
    p.set_defaults(func=cmd_profile_list)
    p = prof.add_parser("import", help="store [[profiles]] from a TOML file")
    p.add_argument("file")
    p.set_defaults(func=cmd_profile_import)

    p = sub.add_parser(
        "alarms", help="the pool's live alarms, from every agent's memory (exit 1 if partial)"
    )
    p.add_argument("--ne", action="append", help="this NE only (repeat for several)")
    p.add_argument("--all", action="store_true", help="include cleared alarms")
    p.add_argument("--min-severity", default="indeterminate")
    p.add_argument("--text", help="text in the alarm, NE, object or type")
    p.add_argument("--acked", choices=("yes", "no"), help="acknowledged or not")
    p.add_argument("--from-agent", action="append", help="alarms owned by this agent only")
    p.add_argument(
        "--page-size",
        type=int,
        default=DEFAULT_PAGE,
        help=f"alarms asked per request (all pages are read; at most {MAX_PAGE})",
    )
    p.set_defaults(func=cmd_alarms)

    p = sub.add_parser("ack", help="acknowledge an alarm")
    p.add_argument("ne")
    p.add_argument("type", help="alarm type, e.g. link-down")
    p.add_argument("--obj", default="", help="managed object, e.g. ifIndex=3 (default: none)")
    p.add_argument("--user", help="who acknowledges (default: $USER)")
    p.add_argument("--undo", action="store_true", help="remove the acknowledgement")
    p.set_defaults(func=cmd_ack)

    p = sub.add_parser("note", help="add a note to a standing alarm (one line of text)")
    p.add_argument("ne")
    p.add_argument("type", help="alarm type, e.g. link-down")
    p.add_argument("text", nargs="+", help=f"the note, at most {MAX_NOTE_CHARS} characters")
    p.add_argument("--obj", default="", help="managed object, e.g. ifIndex=3 (default: none)")
    p.add_argument("--user", help="who writes it (default: $USER; insecure bus only)")
    p.set_defaults(func=cmd_note)

    p = sub.add_parser(
        "events", help="the event log, through a random agent (peered: from the database)"
    )
    p.add_argument("--ne", action="append", help="only this NE (repeatable)")
    p.add_argument("--since", help="from (30m, 2h, 7d ago, or epoch seconds)")
    p.add_argument("--until", help="up to (same forms)")
    p.add_argument("--min-severity", help="warning, minor, major, critical")
    p.add_argument("--type", action="append", help="event type, e.g. alarm-raised (repeatable)")
    p.add_argument("--alarm-type", action="append", help="e.g. link-down (repeatable)")
    p.add_argument("--agent-name", action="append", help="events written by this agent")
    p.add_argument("--text", help="case-insensitive text contained in the event")
    p.add_argument("--oldest", action="store_true", help="oldest first")
    p.add_argument("--limit", type=int, default=50, help=f"events per page (at most {MAX_EVENTS})")
    p.add_argument("--cursor", help="the next page, as a previous page printed it")
    p.add_argument("--counts", action="store_true", help="counts by severity instead")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser(
        "links", help="topology links (LLDP-discovered or imported), through a random agent"
    )
    p.add_argument("--source", help="only links from this source (lldp, manual, ...)")
    p.set_defaults(func=cmd_links)

    p = sub.add_parser("status", help="an agent's status and counters")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("whoami", help="this bus key's name and role, as an agent sees it")
    p.set_defaults(func=cmd_whoami)

    p = sub.add_parser("watch", help="live alarm and event view in the terminal")
    p.add_argument("--pub", help="only print the events of this PUB endpoint (no alarm view)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: never)")
    p.add_argument(
        "--resync-every",
        type=float,
        default=30.0,
        help="re-read the pool's alarms at least every N s (besides gaps and failovers)",
    )
    p.set_defaults(func=cmd_watch)

    _add_plugins(sub)
    return ap


def no_core_dumps() -> None:
    """The CLI holds bus keys and decrypted profile secrets in memory: a crash must not
    write them to a core file."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str] | None = None) -> int:
    no_core_dumps()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.func is not _not_installed:  # a missing command's options are unknown
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except busclient.Unreachable as e:
        print(f"emspool: {e} (is the agent running? see --agent)", file=sys.stderr)
        return 3
    except EmspoolError as e:
        print(f"emspool: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        if args.command not in OPTIONAL_COMMANDS:
            raise
        # e.g. the lab package is there but its simulators' libraries are not
        hint = _install_hint(OPTIONAL_COMMANDS[args.command][1])
        print(
            f"emspool: `emspool {args.command}` needs the Python package {e.name!r}, which is "
            f"not installed; install it with: {hint}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`emspool ne ...`: the NE inventory (database) and one NE's whole picture (`ne show`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent import busclient
from agent.cliopts import agent_request, bus_client, open_db, output
from agent.tables import table, when
from shared.errors import ConfigError, NotFound
from shared.model import LinkAlarms, NetworkElement, Protocol

RECENT_EVENTS = 20
# NeState.detail() keys `ne show` lays out itself; any other one is listed as it comes.
_SHOWN_STATE = {
    "name",
    "reachable",
    "last_poll",
    "last_error",
    "sys_name",
    "sys_descr",
    "sys_uptime",
    "interfaces",
    "neighbours",
    "polls",
    "interfaces_down",
    "ever_up",
}
_MODES = tuple(m.value for m in LinkAlarms)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _address(ne: NetworkElement) -> str:
    """Where the NE is reached: its SNMP port, or its NETCONF port when that is all it has."""
    port = ne.port if Protocol.SNMP in ne.protocols or not ne.protocols else ne.netconf_port
    return _hostport(ne.address, port)


def _protocols(ne: NetworkElement) -> str:
    ports = {Protocol.SNMP: ne.port, Protocol.NETCONF: ne.netconf_port}
    return ",".join(f"{p.value}:{ports[p]}" for p in sorted(ne.protocols))


# -- list / add / set / remove / import ------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    with open_db(args) as db:
        nes = db.list_nes()
        learned = db.learned_engines()
    rows = [
        (
            n.name,
            n.kind,
            _address(n),
            _protocols(n),
            n.profile,
            "yes" if n.managed else "no",
            n.link_alarms.value,
        )
        for n in nes
    ]
    heads = ("name", "kind", "address", "protocols", "profile", "managed", "link alarms")
    data = [n.to_dict() | {"learned_engine_id": learned.get(n.name, "")} for n in nes]
    output(args, data, table(heads, rows))
    return 0


def cmd_reset_engine(args: argparse.Namespace) -> int:
    """Forget the learnt SNMPv3 engine ID of a replaced device; the agent relearns it."""
    with open_db(args) as db:
        db.get_ne(args.name)  # NotFound for a name that is not in the inventory
        had = db.reset_engine(args.name)
    what = "forgot its learnt SNMP engine ID" if had else "no learnt SNMP engine ID to forget"
    try:
        agent_request(args, "reload")
    except busclient.Unreachable as e:
        print(f"{args.name}: {what}; no running agent told ({e})")
        return 0
    print(f"{args.name}: {what}; the agent reloads and learns it from the next trap")
    return 0


def _record(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """The NE in the inventory's JSON form with the options given on the command line, so
    `ne add`/`ne set` validate exactly as `ne import` does."""
    rec = dict(base)
    for opt, key in (
        ("port", "port"),
        ("netconf_port", "netconf_port"),
        ("profile", "profile"),
        ("kind", "kind"),
        ("interval", "poll_interval"),
        ("link_alarms", "link_alarms"),
        ("engine_id", "engine_id"),
        ("context", "context"),
        ("host_key", "host_key"),
        ("zone", "zone"),
        ("pin", "pin"),
    ):
        if getattr(args, opt, None) is not None:
            rec[key] = getattr(args, opt)
    if args.protocols is not None:
        rec["protocols"] = args.protocols
    if args.managed is not None:
        rec["managed"] = args.managed
    overrides = dict(rec.get("interface_alarms") or {})
    for item in args.interface_alarms or []:
        iface, sep, mode = item.rpartition("=")
        if not sep or not iface:
            raise ConfigError(f"--interface-alarms: expected IF=MODE, got {item!r}")
        if mode:
            overrides[iface] = mode
        else:
            overrides.pop(iface, None)  # IF= drops the override
    rec["interface_alarms"] = overrides
    return rec


def cmd_add(args: argparse.Namespace) -> int:
    from agent.inventory import parse_ne

    record = _record(args, {"name": args.name, "address": args.address})
    ne = parse_ne(record, "ne add")
    if args.pool:
        agent_request(args, "db.ne.add", {"ne": ne.to_dict(), "replace": args.replace})
    else:
        with open_db(args, create=True) as db:
            db.add_ne(ne, replace=args.replace)
    print(f"added {ne.name}")
    return 0


def _set_through_pool(args: argparse.Namespace) -> int:
    """`ne set --pool`: the NE as the pool's database has it, the options over it, and
    only the fields that differ sent to a random agent (which validates them again)."""
    with bus_client(args) as client:
        items = client.request("db.inventory", {"ne": args.name})["items"]
        if not items:
            raise NotFound(f"NE {args.name!r} not found")
        base = {k: v for k, v in items[0].items() if k not in ("owner", "stored_state")}
        if args.address is not None:
            base["address"] = args.address
        rec = _record(args, base)
        changes = {k: v for k, v in rec.items() if v != base.get(k)}
        reply = client.request("db.ne.set", {"name": args.name, "changes": changes})
    fields = reply.get("changed") or []
    print(f"{args.name}: {', '.join(fields)} changed" if fields else f"{args.name}: unchanged")
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from agent.inventory import ne_changes, parse_ne

    if args.pool:
        return _set_through_pool(args)
    with open_db(args) as db:
        old = db.get_ne(args.name)
        base = old.to_dict()
        if args.address is not None:
            base["address"] = args.address
        changes = ne_changes(old, parse_ne(_record(args, base), "ne set"))
        if changes:
            db.update_ne(args.name, **changes)
    shown = ", ".join(f"{k}={_shown(v)}" for k, v in changes.items())
    print(f"{args.name}: {shown}" if changes else f"{args.name}: unchanged")
    return 0


def _shown(v: object) -> str:
    if v == "":
        return "(none)"
    if isinstance(v, frozenset):
        return ",".join(sorted(str(p) for p in v))
    if isinstance(v, tuple):
        return ",".join(f"{k}={m}" for k, m in v) or "none"
    return str(getattr(v, "value", v))


def cmd_remove(args: argparse.Namespace) -> int:
    if args.pool:
        agent_request(args, "db.ne.remove", {"names": args.names})
        for name in args.names:
            print(f"removed {name}")
        return 0
    with open_db(args) as db:
        for name in args.names:
            db.remove_ne(name)
            print(f"removed {name}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    try:
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{args.file}: cannot read inventory: {e}") from None
    if args.pool:
        reply = agent_request(args, "db.inventory.import", {"inventory": data})
        profiles, nes = reply["profiles"], reply["nes"]
    else:
        with open_db(args, create=True) as db:
            profiles, nes = db.import_inventory(data)
    print(f"imported {profiles} profiles and {nes} NEs from {args.file}")
    return 0


# -- show -----------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    with open_db(args) as db:
        ne = db.get_ne(args.name)
        learnt = db.learned_engines().get(ne.name, "")
        events = db.query_events(ne=ne.name, limit=args.events)
    live: dict[str, Any] = {"endpoint": None, "reachable": False}
    with bus_client(args) as client:
        try:
            reply = client.request("ne_detail", {"ne": ne.name})
        except busclient.Unreachable as e:
            live["error"] = str(e)
        else:
            assert client.endpoint is not None
            live.update(reply, reachable=True, endpoint=client.endpoint.address)
    recent = [e.to_dict() for e in events]
    data = {
        "ne": ne.to_dict(),
        "engine_id": {"pinned": ne.engine_id, "learnt": learnt},
        "agent": {k: v for k, v in live.items() if k not in ("state", "alarms")},
        "state": live.get("state"),
        "alarms": live.get("alarms"),
        "events": recent,
    }
    output(args, data, _show_text(ne, learnt, live, recent))
    return 0


def _uptime(ticks: object) -> str:
    if not isinstance(ticks, int):
        return "-"
    s = ticks // 100
    return f"{s // 86400}d {s % 86400 // 3600:02}:{s % 3600 // 60:02}:{s % 60:02}"


def _bps(v: object) -> str:
    if not isinstance(v, int | float) or v < 0:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.0f}"


def _section(title: str, heads: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    return ["", f"{title} ({len(rows)})", table(heads, rows) if rows else "  (none)"]


def _show_text(
    ne: NetworkElement, learnt: str, live: dict[str, Any], events: list[dict[str, Any]]
) -> str:
    overrides = ", ".join(f"{k}={m.value}" for k, m in ne.interface_alarms)
    if ne.engine_id:
        engine = f"{ne.engine_id} (pinned)"
        if learnt and learnt != ne.engine_id:
            engine += f"; the agents learnt {learnt}"
    else:
        engine = f"{learnt} (learnt)" if learnt else "- (not learnt yet)"
    policy = ne.link_alarms.value + (f"; overrides {overrides}" if overrides else "")
    lines = [
        f"{ne.name}  ({ne.kind}, {'managed' if ne.managed else 'NOT managed'})",
        f"  address      {_address(ne)}",
        f"  protocols    {_protocols(ne)}",
        f"  profile      {ne.profile}",
        f"  link alarms  {policy}",
    ]
    if Protocol.SNMP in ne.protocols:  # SNMPv3 facts; a NETCONF-only NE has none
        lines += [f"  engine id    {engine}", f"  context      {ne.context or '-'}"]
    lines.append("")
    st = live.get("state")
    if not live["reachable"]:
        lines.append(f"agent not reachable ({live.get('error')}): no live state")
    elif st is None:
        lines.append(f"agent {live.get('agent')} does not poll {ne.name}: no live state")
    else:
        reach = {True: "yes", False: "NO", None: "not polled yet"}[st.get("reachable")]
        lines += [
            f"live state (agent {live.get('agent')})",
            f"  reachable    {reach}",
            f"  last poll    {when(st.get('last_poll'))} ({st.get('polls', 0)} polls)",
            f"  last error   {st.get('last_error') or '-'}",
            f"  uptime       {_uptime(st.get('sys_uptime'))}",
            f"  sys name     {st.get('sys_name') or '-'}",
            f"  sys descr    {st.get('sys_descr') or '-'}",
        ]
        # Whatever else the agent reports (counters, problems found while polling): shown
        # as it comes, so a field added to the NE state is never hidden here.
        for key, value in sorted(st.items()):
            if key not in _SHOWN_STATE and value not in (None, "", [], {}, 0):
                lines.append(f"  {key.replace('_', ' '):<12} {json.dumps(value, default=str)}")
        lines += _section(
            "interfaces",
            ("index", "name", "admin", "oper", "speed", "in bps", "out bps"),
            [
                (
                    i["index"],
                    i["name"],
                    "up" if i["admin_up"] else "down",
                    i["status"],
                    _bps(i["speed_bps"]),
                    _bps(i["in_bps"]),
                    _bps(i["out_bps"]),
                )
                for i in st["interfaces"]
            ],
        )
        lines += _section(
            "neighbours",
            ("local port", "remote", "remote port"),
            [(n["local_port"], n["remote_name"], n["remote_port"]) for n in st["neighbours"]],
        )
    if live["reachable"]:
        lines += _section(
            "standing alarms",
            ("severity", "object", "type", "raised", "ack", "text"),
            [
                (a["severity"], a["obj"], a["type"], when(a["raised_at"]), a["acked_by"], a["text"])
                for a in live.get("alarms") or []
            ],
        )
        notes: list[tuple[object, ...]] = [
            (when(n["time"]), n["user"], a["obj"], a["type"], n["text"])
            for a in live.get("alarms") or []
            for n in a.get("notes") or []
        ]
        if notes:  # the newest of each alarm; all of them are in the event log
            lines += _section("notes on them", ("time", "user", "object", "type", "note"), notes)
    lines += _section(
        "recent events, from the database",
        ("time", "severity", "type", "object", "text"),
        [(when(e["time"]), e["severity"], e["type"], e["obj"], e["text"]) for e in events],
    )
    return "\n".join(lines)


# -- parser ---------------------------------------------------------------------------------
def _attribute_options(p: argparse.ArgumentParser, *, adding: bool) -> None:
    """Options `ne add` and `ne set` share; for `set` a missing option leaves it unchanged."""

    def d(value: object) -> object:
        return value if adding else None

    p.add_argument("--port", type=int, default=d(161), help="SNMP port")
    p.add_argument("--netconf-port", type=int, default=d(830), help="NETCONF (SSH) port")
    p.add_argument("--profile", default=d("default"), help="credentials profile name")
    p.add_argument("--kind", default=d("router"))
    p.add_argument("--protocols", default=d("snmp"), help="snmp, netconf or snmp,netconf")
    p.add_argument("--interval", type=float, help="poll interval override (s)")
    managed = p.add_mutually_exclusive_group()
    managed.add_argument(
        "--managed", dest="managed", action="store_const", const=True, help="poll it"
    )
    managed.add_argument(
        "--unmanaged",
        dest="managed",
        action="store_const",
        const=False,
        help="keep it in the inventory, do not poll it, close its alarms",
    )
    p.add_argument(
        "--link-alarms",
        choices=_MODES,
        default=d("default"),
        help="which ports raise link-down alarms (see the README)",
    )
    p.add_argument(
        "--interface-alarms",
        nargs="+",
        metavar="IF=MODE",
        help=f"per-interface override by name or ifIndex, MODE one of {', '.join(_MODES)}"
        + ("" if adding else "; IF= removes an override"),
    )
    p.add_argument("--engine-id", help="pin the SNMPv3 engine ID (hex; '' unpins)")
    p.add_argument("--context", help="SNMPv3 context name ('' for the profile's)")
    p.add_argument("--host-key", help="pinned SSH host public key of a NETCONF NE")
    p.add_argument("--zone", help="only agents serving this zone manage it ('' any agent)")
    p.add_argument("--pin", help="node id of the agent that should manage it ('' no pin)")


def _pool_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pool",
        action="store_true",
        help="through a random agent of the pool (operator key; --agent pins one) instead "
        "of writing the database from here; in force pool-wide within about 2 s",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ne = sub.add_parser("ne", help="network element inventory").add_subparsers(
        dest="ne_cmd", required=True
    )
    p = ne.add_parser("list", help="list NEs")
    p.set_defaults(func=cmd_list)

    p = ne.add_parser("show", help="one NE: inventory, live state, alarms, recent events")
    p.add_argument("name")
    p.add_argument("--events", type=int, default=RECENT_EVENTS, help="recent events shown")
    p.set_defaults(func=cmd_show)

    p = ne.add_parser("add", help="add an NE")
    p.add_argument("name")
    p.add_argument("address")
    _attribute_options(p, adding=True)
    p.add_argument("--replace", action="store_true", help="overwrite an existing NE")
    _pool_option(p)
    p.set_defaults(func=cmd_add, managed=True)

    p = ne.add_parser("set", help="change an NE (only the options given)")
    p.add_argument("name")
    p.add_argument("--address", help="new management address")
    _attribute_options(p, adding=False)
    _pool_option(p)
    p.set_defaults(func=cmd_set)

    p = ne.add_parser("remove", help="remove NEs")
    p.add_argument("names", nargs="+")
    _pool_option(p)
    p.set_defaults(func=cmd_remove)

    p = ne.add_parser("reset-engine", help="forget a replaced device's learnt SNMPv3 engine ID")
    p.add_argument("name")
    p.set_defaults(func=cmd_reset_engine)

    p = ne.add_parser("import", help="import an inventory JSON file (e.g. the lab's)")
    p.add_argument("file")
    _pool_option(p)
    p.set_defaults(func=cmd_import)

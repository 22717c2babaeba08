"""`emspool db upgrade | current`: the pool database's schema, changed only when asked."""

from __future__ import annotations

import argparse

from agent.cliopts import db_url, output, sqlite_file
from agent.dbengine import current_revision, head_revision, known_revisions, migrate, safe_url


def schema_state(current: str | None, head: str) -> str:
    if current is None:
        return "empty"
    if current == head:
        return "current"
    return "behind" if current in known_revisions() else "newer"


def cmd_current(args: argparse.Namespace) -> int:
    url, _ = db_url(args)
    path = sqlite_file(url)
    current = None if path is not None and not path.exists() else current_revision(url)
    head = head_revision()
    state = schema_state(current, head)
    hint = {
        "current": "up to date",
        "empty": "no schema yet: run `emspool db upgrade`",
        "behind": "older than this emspool: run `emspool db upgrade`",
        "newer": "made by a newer emspool: upgrade emspool here before using it",
    }[state]
    data = {"database": safe_url(url), "current": current, "head": head, "state": state}
    output(args, data, f"{safe_url(url)}: schema {current or '(none)'}, newest {head}: {hint}")
    return {"current": 0, "empty": 1, "behind": 1, "newer": 2}[state]


def cmd_upgrade(args: argparse.Namespace) -> int:
    url, _ = db_url(args)
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    before = None if path is not None and not path.exists() else current_revision(url)
    after = migrate(url)
    data = {"database": safe_url(url), "from": before, "to": after}
    text = (
        f"{safe_url(url)}: already at {after}"
        if before == after
        else f"{safe_url(url)}: upgraded {before or '(empty)'} -> {after}"
    )
    output(args, data, text)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the pool database's schema").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("current", help="the schema revision (exit 1 behind or empty, 2 newer)")
    p.set_defaults(func=cmd_current)
    p = db.add_parser("upgrade", help="upgrade the schema to this emspool's newest")
    p.set_defaults(func=cmd_upgrade)

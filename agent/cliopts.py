"""What every `emspool` command shares: where the database and the agent are, the help
format, and how results are printed."""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import EmspoolError

if TYPE_CHECKING:
    from agent.db import Database

DEFAULT_DB = "sqlite:///var/emspool.db"
DEFAULT_AGENT = "tcp://127.0.0.1:7700"
WHERE_DB = "set --db, --config or EMSPOOL_DB"


class HelpFormatter(argparse.HelpFormatter):
    """`--help` names the default of every option that has one, help text or not.

    Unlike argparse.ArgumentDefaultsHelpFormatter it says nothing for flags and for
    options whose default is "not given" (None): "(default: None)" helps nobody.
    """

    @staticmethod
    def _has_default(action: argparse.Action) -> bool:
        d = action.default
        return not (
            d is None
            or d is False
            or d is argparse.SUPPRESS
            or d == []
            or isinstance(action, argparse._StoreConstAction | argparse._StoreTrueAction)
            or not (action.option_strings or action.nargs in ("?", "*"))
        )

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._has_default(action):
            action = copy.copy(action)  # argparse prints no help line for help=None
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or not self._has_default(action):
            return action.help
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose sub-commands (plugins' too) inherit the help format."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _setting(
    args: argparse.Namespace, flag: str, from_config: str, env: str, default: str
) -> tuple[str, str]:
    """(value, where it came from): a flag wins, then --config's file, then the environment."""
    if getattr(args, flag):
        return str(getattr(args, flag)), f"--{flag}"
    if args.config:
        from agent.main import load_config

        return str(getattr(load_config(args.config), from_config)), args.config
    if os.environ.get(env):
        return os.environ[env], env
    return default, "default"


def db_url(args: argparse.Namespace) -> tuple[str, str]:
    return _setting(args, "db", "effective_database_url", "EMSPOOL_DB", DEFAULT_DB)


def agent_endpoint(args: argparse.Namespace) -> str:
    return _setting(args, "agent", "router_endpoint", "EMSPOOL_AGENT", DEFAULT_AGENT)[0]


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def open_db(args: argparse.Namespace, *, create: bool = False) -> Database:
    """The database the command works on. Said on stderr when it is the built-in default,
    so nobody fills or reads a database they did not mean. Only commands that write
    (``create``) may create a missing SQLite file; the others say it is not there."""
    from agent.db import Database, migrate

    url, origin = db_url(args)
    path = sqlite_file(url)
    if origin == "default":
        where = f" = {path.resolve()}" if path is not None and not path.is_absolute() else ""
        print(f"emspool: using database {url}{where} ({WHERE_DB})", file=sys.stderr)
    if path is not None and not path.exists():
        if not create:
            raise EmspoolError(f"no database at {path.resolve()} ({WHERE_DB})")
        path.parent.mkdir(parents=True, exist_ok=True)
    migrate(url)
    return Database.open(url)


def output(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)

"""What every `emspool` command shares: where the database and the agents are, the bus key,
the help format, and how results are printed."""

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
    from agent.busclient import BusClient, Endpoint
    from agent.db import Database
    from agent.secretbox import SecretBox

DEFAULT_DB = "sqlite:///var/emspool.db"
DEFAULT_AGENT = "tcp://127.0.0.1:7700"
WHERE_DB = "set --db, --config or EMSPOOL_DB"


def default_key() -> Path:
    """Where an operator's bus key lives unless --key or EMSPOOL_KEY say otherwise."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "emspool" / "bus.key"


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


def key_path(args: argparse.Namespace) -> Path:
    given = getattr(args, "key", None) or os.environ.get("EMSPOOL_KEY")
    return Path(given) if given else default_key()


def _agents_wanted(args: argparse.Namespace) -> list[str]:
    """Node ids or endpoints named by --agent / --config / EMSPOOL_AGENT (comma-separated);
    empty: every agent of the pool."""
    if getattr(args, "agent", None):
        text = str(args.agent)
    elif getattr(args, "config", None):
        from agent.main import load_config

        text = load_config(args.config).router_endpoint
    else:
        text = os.environ.get("EMSPOOL_AGENT", "")
    return [a.strip() for a in text.split(",") if a.strip()]


def _pool_rows(args: argparse.Namespace) -> list[Endpoint]:
    """The agents the pool database advertises (empty when there is none to read)."""
    from agent.busclient import pool_endpoints

    url, origin = db_url(args)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return []
    try:
        return list(pool_endpoints(url)())
    except EmspoolError:
        if origin == "default":
            return []
        raise


def _config_key(args: argparse.Namespace) -> tuple[str, str] | None:
    """(endpoint, public key) of the agent whose config --config names, from its key's
    public file (readable by operators; the secret file is not)."""
    if not getattr(args, "config", None):
        return None
    from agent.keys import public_path, read_public
    from agent.main import load_config

    cfg = load_config(args.config)
    pub = public_path(Path(cfg.effective_key_file))
    if cfg.bus.insecure or not pub.exists():
        return None
    return cfg.router_endpoint, read_public(pub)


def agent_endpoints(args: argparse.Namespace) -> list[Endpoint]:
    """The agents a command may talk to, each with the CURVE key it must present."""
    from agent.busclient import Endpoint

    rows = _pool_rows(args)
    wanted = _agents_wanted(args)
    if not wanted:
        return rows or [Endpoint(DEFAULT_AGENT)]
    known = _config_key(args)
    out = []
    for w in wanted:
        row = next((r for r in rows if w in (r.node, r.address)), None)
        if row is not None:
            out.append(row)
        elif known is not None and known[0] == w:
            out.append(Endpoint(w, known[1]))
        elif "://" in w:
            out.append(Endpoint(w))  # no key known: only an insecure agent will answer
        else:
            raise EmspoolError(f"no agent {w!r} in the pool database ({WHERE_DB})")
    return out


def bus_client(args: argparse.Namespace) -> BusClient:
    """A bus client for this command: the agents above, our key if there is one."""
    from agent.busclient import BusClient
    from agent.keys import read_key_file

    path = key_path(args)
    key = read_key_file(path) if path.exists() else None
    return BusClient(lambda: agent_endpoints(args), key, timeout=args.timeout)


def agent_request(args: argparse.Namespace, op: str, params: dict[str, Any] | None = None) -> Any:
    with bus_client(args) as client:
        return client.request(op, params)


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
    from agent.db import Database
    from agent.dbengine import prepare

    url, origin = db_url(args)
    path = sqlite_file(url)
    if origin == "default":
        where = f" = {path.resolve()}" if path is not None and not path.is_absolute() else ""
        print(f"emspool: using database {url}{where} ({WHERE_DB})", file=sys.stderr)
    if path is not None and not path.exists():
        if not create:
            raise EmspoolError(f"no database at {path.resolve()} ({WHERE_DB})")
        path.parent.mkdir(parents=True, exist_ok=True)
    prepare(url)  # an empty database gets the schema; an older one is refused: db upgrade
    return Database.open(url, secrets=secrets_box(args))


def secrets_box(args: argparse.Namespace) -> SecretBox | None:
    """The pool secrets key for profiles: --secrets-key, else $EMSPOOL_SECRETS_KEY, else the
    --config's secrets.key_file, else systemd's credential; None: plain text."""
    from agent.secretbox import box_for

    path = getattr(args, "secrets_key", None) or os.environ.get("EMSPOOL_SECRETS_KEY", "")
    if not path and getattr(args, "config", None):
        from agent.main import load_config

        path = load_config(args.config).secrets.key_file
    return box_for(path)


def output(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)

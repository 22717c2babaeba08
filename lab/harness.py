"""Agent processes for the demo, the system tests and the benchmarks: free loopback ports,
a config file, start, wait until it answers, stop.

This is harness, not product: the agent package never needs it (an installed agent is
started by systemd from a config an operator wrote).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent import busclient
from shared.errors import EmspoolError


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_agent_config(
    path: Path,
    node_id: str,
    data_dir: Path,
    db_url: str,
    interval: float,
    **sections: Mapping[str, object],
) -> tuple[str, int]:
    """An agent config on free loopback ports; returns (request endpoint, trap port).

    ``sections`` add to or override the defaults, e.g. ``polling={"retries": 0}``."""
    router = f"tcp://127.0.0.1:{free_port()}"
    pub = f"tcp://127.0.0.1:{free_port()}"
    trap_port = free_port(socket.SOCK_DGRAM)
    config: dict[str, dict[str, object]] = {
        "agent": {"node_id": node_id, "data_dir": str(data_dir)},
        "database": {"url": db_url},
        "bus": {"router": router, "pub": pub},
        "traps": {"host": "127.0.0.1", "port": trap_port},
        "polling": {"interval": interval, "timeout": 1.0, "retries": 1},
        "alarms": {"restart_hold": 60},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    text = "# written by the emspool lab harness\n"
    for name, values in config.items():
        text += f"\n[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
    path.write_text(text, encoding="utf-8")
    return router, trap_port


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def sqlite_pool(db_path: Path, inventory: Mapping[str, Any]) -> str:
    """A migrated SQLite pool database at ``db_path`` holding ``inventory``; its URL."""
    from agent.db import Database, migrate  # SQLAlchemy: loaded only to build a database

    url = f"sqlite:///{db_path}"
    migrate(url)
    with Database.open(url) as db:
        db.import_inventory(inventory)
    return url


def start_agent(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.main", "--config", str(config)],
            stdout=logf,
            stderr=subprocess.STDOUT,
        )


def bus_key(db_url: str, directory: Path, name: str = "harness", role: str = "operator") -> Path:
    """A client key made as `emspool keys create` makes it; its secret file (made once)."""
    from agent.db import Database, migrate
    from agent.keys import create_key
    from shared.wire import KeyRole

    path = directory / f"{name}.key"
    if not path.exists():
        migrate(db_url)
        with Database.open(db_url) as db:
            create_key(db, name, KeyRole(role), directory, "lab harness")
    return path


def client_for(
    db_url: str, key: Path, agent: str | None = None, timeout: float = 5.0
) -> busclient.BusClient:
    """A bus client of the pool's agents (or only of ``agent``: node id or endpoint), their
    addresses and keys read from the pool database at each (re)connect."""
    from agent.keys import read_key_file

    agents = busclient.pool_endpoints(db_url, only=(agent,) if agent else ())
    return busclient.BusClient(agents, read_key_file(key), timeout=timeout)


def wait_for_agent(
    client: busclient.BusClient, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmspoolError(f"the agent exited with code {proc.returncode}; see its log")
        try:
            client.request("ping", timeout=0.5)
            return
        except busclient.Unreachable:
            time.sleep(0.05)  # no agents row yet: do not spin
            continue
    raise EmspoolError(f"the agent did not answer within {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

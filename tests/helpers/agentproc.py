"""A real agent process on SQLite managing a lab's inventory, for system tests."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

from agent.busclient import BusClient
from lab.fleet import Lab
from lab.harness import (
    bus_key,
    client_for,
    sqlite_pool,
    start_agent,
    wait_for_agent,
    write_agent_config,
)


@dataclass
class RunningAgent:
    router: str
    trap: tuple[str, int]
    proc: Popen[bytes]
    db_url: str
    root: Path
    key: Path  # an operator's bus key, made as `emspool keys create` makes it
    client: BusClient

    def request(self, op: str, args: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        return self.client.request(op, args, timeout=timeout)


@contextmanager
def agent_for_lab(lab: Lab, root: Path, node_id: str, interval: float) -> Iterator[RunningAgent]:
    """Import the lab's inventory, start an agent on it, stop it (SIGTERM) at the end."""
    db_url = sqlite_pool(root / "emspool.db", json.loads(lab.inventory_path.read_text()))
    config = root / "agent.toml"
    router, trap_port = write_agent_config(config, node_id, root / "agent", db_url, interval)
    key = bus_key(db_url, root)
    client = client_for(db_url, key, router)
    proc = start_agent(config, root / "agent.log")
    try:
        wait_for_agent(client, proc, 30.0)
        yield RunningAgent(router, ("127.0.0.1", trap_port), proc, db_url, root, key, client)
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)

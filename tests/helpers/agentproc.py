"""A real agent process on SQLite managing a lab's inventory, for system tests."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from lab.fleet import Lab
from lab.harness import sqlite_pool, start_agent, wait_for_agent, write_agent_config


@dataclass
class RunningAgent:
    router: str
    trap: tuple[str, int]
    proc: Popen[bytes]
    db_url: str
    root: Path


@contextmanager
def agent_for_lab(lab: Lab, root: Path, node_id: str, interval: float) -> Iterator[RunningAgent]:
    """Import the lab's inventory, start an agent on it, stop it (SIGTERM) at the end."""
    db_url = sqlite_pool(root / "emspool.db", json.loads(lab.inventory_path.read_text()))
    config = root / "agent.toml"
    router, trap_port = write_agent_config(config, node_id, root / "agent", db_url, interval)
    proc = start_agent(config, root / "agent.log")
    try:
        wait_for_agent(router, proc, 30.0)
        yield RunningAgent(router, ("127.0.0.1", trap_port), proc, db_url, root)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)

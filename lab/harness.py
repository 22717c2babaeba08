"""Agent processes for the demo, the system tests and the benchmarks: free loopback ports,
a config file, start, wait until it answers, stop.

This is harness, not product: the agent package never needs it (an installed agent is
started by systemd from a config an operator wrote).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from agent import busclient
from shared.errors import EmspoolError


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_agent_config(
    path: Path, node_id: str, data_dir: Path, db_url: str, interval: float
) -> tuple[str, int]:
    """An agent config on free loopback ports; returns (request endpoint, trap port)."""
    router = f"tcp://127.0.0.1:{free_port()}"
    pub = f"tcp://127.0.0.1:{free_port()}"
    trap_port = free_port(socket.SOCK_DGRAM)
    path.write_text(
        f"""# written by the emspool lab harness
[agent]
node_id = "{node_id}"
data_dir = "{data_dir}"

[database]
url = "{db_url}"

[bus]
router = "{router}"
pub = "{pub}"

[traps]
host = "127.0.0.1"
port = {trap_port}

[polling]
interval = {interval}
timeout = 1.0
retries = 1

[alarms]
restart_hold = 60
""",
        encoding="utf-8",
    )
    return router, trap_port


def start_agent(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.main", "--config", str(config)],
            stdout=logf,
            stderr=subprocess.STDOUT,
        )


def wait_for_agent(endpoint: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmspoolError(f"the agent exited with code {proc.returncode}; see its log")
        try:
            busclient.request(endpoint, "ping", timeout=0.5)
            return
        except busclient.Unreachable:
            continue
    raise EmspoolError(f"the agent did not answer on {endpoint} within {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

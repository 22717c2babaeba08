"""An agent's start-up and shutdown with real sockets, files and processes: a failed start
closes what it opened, and repeated stop signals never lose an event."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from agent.app import Agent
from agent.db import Database, migrate
from lab.harness import bus_key, client_for, free_port, stop_process, wait_for_agent
from shared.config import parse_config
from shared.errors import EmspoolError
from shared.wire import Topic, decode_publish
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

COMMUNITY = "lifecycle-test"


def config_text(root: Path, *, router: int, pub: int, trap: int, interval: float = 3600) -> str:
    return f"""
[agent]
node_id = "life"
data_dir = "{root / "agent"}"

[database]
url = "sqlite:///{root / "emspool.db"}"

[bus]
router = "tcp://127.0.0.1:{router}"
pub = "tcp://127.0.0.1:{pub}"

[traps]
host = "127.0.0.1"
port = {trap}

[polling]
interval = {interval}
timeout = 0.5
retries = 0
"""


def write_config(root: Path, **ports: int) -> Path:
    path = root / "agent.toml"
    path.write_text(config_text(root, **ports), encoding="utf-8")
    return path


def ports() -> dict[str, int]:
    return {"router": free_port(), "pub": free_port(), "trap": free_port(socket.SOCK_DGRAM)}


def open_files_under(root: Path) -> list[str]:
    """Files under ``root`` this process still has open (from /proc/self/fd)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(root)):
            found.append(target)
    return found


def can_bind(endpoint: str) -> bool:
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    try:
        sock.bind(endpoint)
        return True
    except zmq.ZMQError:
        return False
    finally:
        sock.close(linger=0)


def agent_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "agent.main", "--config", str(config)]


# -- a failed start ----------------------------------------------------------------------
@pytest.mark.parametrize("taken", ["trap", "pub"])
async def test_failed_start_closes_what_it_opened(tmp_path, taken):
    """In one process, so that a leak is visible: after run() fails, no file under the
    agent's directory is open and both bus ports can be bound again."""
    p = ports()
    kind = socket.SOCK_DGRAM if taken == "trap" else socket.SOCK_STREAM
    blocker = socket.socket(socket.AF_INET, kind)
    blocker.bind(("127.0.0.1", p[taken]))
    if kind == socket.SOCK_STREAM:
        blocker.listen()
    try:
        config = parse_config(config_text(tmp_path, **p), "test")
        agent = Agent(config)
        with pytest.raises(Exception) as failure:
            await agent.run()
        left_open = open_files_under(tmp_path)
        still_bound = [
            port
            for port in ((p["router"], p["pub"]) if taken == "trap" else (p["router"],))
            if not can_bind(f"tcp://127.0.0.1:{port}")
        ]
        assert (left_open, still_bound) == ([], [])
        # ... and the operator is told which port, in words, not with a traceback.
        assert isinstance(failure.value, EmspoolError)
        assert f"127.0.0.1:{p[taken]}" in str(failure.value)
    finally:
        blocker.close()


def test_trap_port_taken_is_a_clear_error_and_the_next_agent_starts(tmp_path):
    p = ports()
    config = write_config(tmp_path, **p)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", p["trap"]))
        out = subprocess.run(agent_cmd(config), capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"traps: cannot listen on 127.0.0.1:{p['trap']}" in out.stderr
    assert "in use" in out.stderr and "Traceback" not in out.stderr + out.stdout
    # The same bus ports and data directory, straight away: nothing of the first is left.
    outbox = tmp_path / "agent" / "outbox.sqlite"
    with sqlite3.connect(outbox, timeout=0) as conn:
        conn.execute("BEGIN EXCLUSIVE")
        conn.rollback()
    proc = subprocess.Popen(agent_cmd(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"sqlite:///{tmp_path / 'emspool.db'}"
    client = client_for(url, bus_key(url, tmp_path), f"tcp://127.0.0.1:{p['router']}")
    try:
        wait_for_agent(client, proc, 30.0)
        status = client.request("status", timeout=5)
        assert status["node_id"] == "life"
    finally:
        client.close()
        stop_process(proc)
    assert proc.returncode == 0


# -- stop signals ------------------------------------------------------------------------
def send_traps(port: int, n: int) -> None:
    for i in range(n):
        subprocess.run(
            [
                "snmptrap",
                "-v",
                "2c",
                "-c",
                COMMUNITY,
                f"127.0.0.1:{port}",
                "",
                "1.3.6.1.4.1.99999.0.1",
                "1.3.6.1.4.1.99999.1.1",
                "s",
                f"lifecycle trap {i}",
            ],
            check=True,
            timeout=10,
        )


def stored_ids(root: Path) -> tuple[set[str], set[str], list[str]]:
    """(event ids in the database, ids in the outbox file, texts of agent events)."""
    db = Database.open(f"sqlite:///{root / 'emspool.db'}")
    try:
        events = db.query_events(limit=10_000)
    finally:
        db.close()
    with sqlite3.connect(root / "agent" / "outbox.sqlite") as conn:
        rows = conn.execute("SELECT id, payload FROM outbox").fetchall()
    agent_texts = [e.text for e in events if e.type == "agent"]
    agent_texts += [json.loads(p)[4] for _, p in rows if json.loads(p)[2] == "agent"]
    return {e.id for e in events}, {r[0] for r in rows}, agent_texts


def test_second_sigterm_during_a_stuck_flush_loses_nothing(tmp_path):
    """The database is locked by another writer (as a long migration or a stuck client
    would): the final flush cannot finish. SIGTERM twice, quickly: the agent still stops
    cleanly, every event it published is in the database or its outbox, and the next
    start delivers them."""
    p = ports()
    url = f"sqlite:///{tmp_path / 'emspool.db'}"
    migrate(url)
    db = Database.open(url)
    try:
        db.import_inventory(
            {
                "profiles": [{"name": "v2", "version": "2c", "community": COMMUNITY}],
                # Polled on a port where nothing answers; its traps come from 127.0.0.1.
                "devices": [
                    {"name": "src", "address": "127.0.0.1", "port": free_port(2), "profile": "v2"}
                ],
            }
        )
    finally:
        db.close()
    config = write_config(tmp_path, **p)
    log_path = tmp_path / "agent.log"
    router = f"tcp://127.0.0.1:{p['router']}"
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(agent_cmd(config), stdout=logf, stderr=subprocess.STDOUT)
    client = client_for(url, bus_key(url, tmp_path), router)
    sub = None
    locker = None
    try:
        wait_for_agent(client, proc, 30.0)
        wait_until(lambda: client.request("status")["managed"] == 1, 20, what="NE managed")
        sub = client.subscribe(f"tcp://127.0.0.1:{p['pub']}", [Topic.EVENT])
        time.sleep(0.5)  # PUB/SUB slow joiner
        locker = sqlite3.connect(tmp_path / "emspool.db", isolation_level=None, timeout=10)
        locker.execute("BEGIN EXCLUSIVE")  # every write of the agent now waits, then fails
        send_traps(p["trap"], 20)
        published: set[str] = set()

        def all_published() -> bool:
            while sub.poll(100, zmq.POLLIN):
                _, body = decode_publish(sub.recv_multipart())
                if body.get("type") == "trap":
                    published.add(str(body["id"]))
            return len(published) == 20

        wait_until(all_published, 20, what="20 trap events published")
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert proc.wait(30) == 0
        took = time.monotonic() - started
    finally:
        client.close()
        if sub is not None:
            sub.close(linger=0)
        if locker is not None:
            locker.execute("ROLLBACK")
            locker.close()
        stop_process(proc)
    log = log_path.read_text()
    assert "Traceback" not in log, log
    assert "already stopping" in log and "agent stopped" in log.splitlines()[-1], log
    # FLUSH_GRACE (1 s) after the second signal, then the exit waits for the insert thread
    # already blocked on the lock (SQLite busy timeout 5 s); without the second signal
    # the flush alone could take its whole 10 s.
    assert took < 15, f"stopping took {took:.1f} s"  # measured: about 6.5 s
    in_db, in_outbox, agent_texts = stored_ids(tmp_path)
    assert published <= in_db | in_outbox
    assert "agent stopped" in agent_texts

    # The next start (database free again) delivers what the outbox kept.
    proc = subprocess.Popen(agent_cmd(config), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        with client_for(url, bus_key(url, tmp_path), router) as client:
            wait_for_agent(client, proc, 30.0)
        wait_until(lambda: published <= stored_ids(tmp_path)[0], 20, what="events in the DB")
    finally:
        stop_process(proc)
    assert proc.returncode == 0

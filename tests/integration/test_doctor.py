"""`emspool doctor` on a real host set-up: a real database, key files, ports and a real
agent process answering as a peer; each problem is named with its fix and the exit code
says whether anything is wrong."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from agent.db import Database, migrate
from agent.pooldb import PoolDb
from lab.harness import (
    bus_key,
    client_for,
    start_agent,
    stop_process,
    wait_for_agent,
    write_agent_config,
)
from shared.schema import agents

pytestmark = pytest.mark.timeout(120)


def doctor(config: Path, key: Path | None = None) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if k != "EMSPOOL_KEY"}
    if key is not None:
        env["EMSPOOL_KEY"] = str(key)
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--config", str(config), "--json", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    return out.returncode, json.loads(out.stdout)


def levels(report: dict, check: str) -> list[str]:
    return [f["level"] for f in report["findings"] if f["check"] == check]


def test_unreadable_config_is_exit_2(tmp_path):
    bad = tmp_path / "agent.toml"
    bad.write_text("[agent]\nnode_id = 'x'\n[polling]\ninterval = 'soon'\n")
    code, report = doctor(bad)
    assert code == 2 and "polling.interval" in report["findings"][0]["detail"]


def test_doctor_names_problems_and_fixes_then_passes(tmp_path):
    url = f"sqlite:///{tmp_path}/pool.db"
    config = tmp_path / "agent.toml"
    _router, trap_port = write_agent_config(config, "d1", tmp_path / "d1", url, 60.0)
    code, report = doctor(config)
    assert code == 1 and levels(report, "database") == ["fail"]

    migrate(url)
    (tmp_path / "d1").mkdir()
    key = tmp_path / "d1" / "bus.key"
    key.write_text("not really a key\n")
    key.chmod(0o644)
    code, report = doctor(config)
    assert code == 1 and levels(report, "key file") == ["fail"]
    assert any("chmod 600" in f["fix"] for f in report["findings"])
    key.chmod(0o600)
    # Peers are pinged with an operator's key when the agent's own is not readable.
    operator = bus_key(url, tmp_path, "doctor-operator")

    # The trap port taken by something else: a warning, not a failure.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", trap_port))
        code, report = doctor(config)
    assert levels(report, "trap port") == ["warn"] and levels(report, "clock") == ["ok"]
    assert code == 0, report

    # Peers: one gone for a while, one real agent answering on its bus.
    peer_cfg = tmp_path / "peer.toml"
    peer_router, _ = write_agent_config(peer_cfg, "p1", tmp_path / "p1", url, 60.0)
    proc = start_agent(peer_cfg, tmp_path / "p1.log")
    try:
        with client_for(url, operator, peer_router) as client:
            wait_for_agent(client, proc, 60.0)
        with Database.open(url) as db:
            pool = PoolDb(db)
            pool.heartbeat("gone", priority=1, endpoint="tcp://127.0.0.1:9", state="follower")
            with db.transaction("ageing") as conn:
                conn.execute(update(agents).where(agents.c.node_id == "gone").values(last_seen=0))
            pool.heartbeat("p1", priority=1, endpoint=peer_router, state="follower")
            pool.heartbeat("mute", priority=1, endpoint="tcp://127.0.0.1:9", state="follower")
        code, report = doctor(config, operator)
        peers = {
            f["detail"].split(" ")[0].rstrip(":"): f["level"]
            for f in report["findings"]
            if f["check"] == "peer"
        }
        assert peers == {"gone": "warn", "p1": "ok", "mute": "fail"}, report
        assert code == 1
    finally:
        stop_process(proc)

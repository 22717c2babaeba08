"""`emspool doctor` on a real host set-up: a real database, key files, ports and a real
agent process answering as a peer; each problem is named with its fix and the exit code
says whether anything is wrong."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import make_url

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
from shared.eventquery import EventQuery
from shared.model import Event, EventType, Severity
from shared.schema import agents
from tests.helpers.pgdb import ADMIN_URL, temp_pg_database

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
    assert levels(report, "text search") == ["ok"]  # the FTS5 trigram index is there
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


@pytest.mark.postgres
def test_without_rights_for_pg_trgm_the_schema_upgrades_search_scans_and_doctor_says_so(
    tmp_path,
):
    # A role that may create tables but not extensions (no CREATE on the database): the
    # migration leaves the trigram index out, text search still answers, doctor warns.
    role = f"emspool_r_{secrets.token_hex(4)}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        with temp_pg_database() as owner_url:
            owned = create_engine(owner_url, isolation_level="AUTOCOMMIT")
            with owned.connect() as conn:
                conn.execute(text(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"'))
            owned.dispose()
            url = make_url(owner_url).set(username=role).render_as_string(hide_password=False)
            migrate(url)
            with Database.open(url) as db:
                assert not db.has_text_index()
                db.insert_events(
                    [
                        Event(1.0 + i, "ne1", EventType.TRAP, Severity.MINOR, f"Fan {i}", "a")
                        for i in range(20)
                    ]
                )
                assert [e.text for e in db.search_events(EventQuery(text="FAN 1")).events] == [
                    "Fan 19", "Fan 18", "Fan 17", "Fan 16", "Fan 15", "Fan 14", "Fan 13",
                    "Fan 12", "Fan 11", "Fan 10", "Fan 1",
                ]  # fmt: skip
            config = tmp_path / "agent.toml"
            write_agent_config(config, "d1", tmp_path / "d1", url, 60.0)
            _code, report = doctor(config)
            (finding,) = [f for f in report["findings"] if f["check"] == "text search"]
            assert finding["level"] == "warn" and "pg_trgm" in finding["detail"]
            assert "CREATE EXTENSION pg_trgm" in finding["fix"]
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()

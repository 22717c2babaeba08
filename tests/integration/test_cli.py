"""The admin CLI as an operator runs it: a separate process on a real SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)


def emspool(db: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


INVENTORY = {
    "profiles": [
        {"name": "v2", "version": "2c", "community": "s3cret-community"},
        {
            "name": "v3",
            "version": "3",
            "user": "nms",
            "auth_protocol": "sha256",
            "auth_key": "s3cret-authkey",
            "priv_protocol": "aes",
            "priv_key": "s3cret-privkey",
        },
    ],
    "devices": [
        {"name": "rtr1", "kind": "router", "address": "127.0.0.11", "port": 1161, "profile": "v2"},
        {"name": "sw1", "kind": "switch", "address": "127.0.0.12", "port": 1161, "profile": "v3"},
    ],
    "links": [{"a": "rtr1", "a_port": "ge-0/0/1", "b": "sw1", "b_port": "Gi1/0/1"}],
}


def test_inventory_round_trip_and_secrets_stay_hidden(db, tmp_path):
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps(INVENTORY))
    first = emspool(db, "ne", "import", str(inv))
    assert "2 NEs" in first.stdout
    emspool(db, "ne", "import", str(inv))  # idempotent
    listed = json.loads(emspool(db, "--json", "ne", "list").stdout)
    assert sorted(n["name"] for n in listed) == ["rtr1", "sw1"]
    table = emspool(db, "ne", "list").stdout
    assert "127.0.0.11:1161" in table and "NAME" in table.splitlines()[0]

    emspool(db, "ne", "add", "rtr2", "127.0.0.13", "--port", "1161", "--profile", "v2")
    dup = emspool(db, "ne", "add", "rtr2", "127.0.0.14", "--profile", "v2", ok=False)
    assert dup.returncode == 1 and "rtr2" in dup.stderr
    bad = emspool(db, "ne", "add", "rtr3", "127.0.0.15", "--profile", "nope", ok=False)
    assert bad.returncode == 1 and "nope" in bad.stderr
    emspool(db, "ne", "remove", "rtr2")
    gone = emspool(db, "ne", "remove", "rtr2", ok=False)
    assert gone.returncode == 1

    links = json.loads(emspool(db, "--json", "links").stdout)
    assert [(k["a"], k["b"]) for k in links] == [("rtr1", "sw1")]

    profiles = emspool(db, "--json", "profile", "list").stdout
    assert {p["name"] for p in json.loads(profiles)} == {"v2", "v3"}
    for out in (profiles, emspool(db, "profile", "list").stdout, table):
        assert "s3cret" not in out


def test_bad_inventory_file_is_a_clear_error(db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = emspool(db, "ne", "import", str(bad), ok=False)
    assert out.returncode == 1 and "bad.json" in out.stderr
    assert "Traceback" not in out.stderr


def test_alarms_without_an_agent_says_so(db):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "--agent",
            "tcp://127.0.0.1:9",
            "--timeout",
            "0.5",
            "alarms",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3 and "no answer" in out.stderr

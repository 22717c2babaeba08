"""`emspool keys` as an operator runs it: key files on disk, public keys in a real SQLite
pool database, secrets never printed."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from agent.keys import load_or_create, read_key_file
from shared.errors import ConfigError

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


def test_create_list_allow_revoke(tmp_path):
    db = f"sqlite:///{tmp_path / 'pool.db'}"
    out = emspool(db, "keys", "create", "alice", "--role", "operator", "--out", str(tmp_path))
    secret_file = tmp_path / "alice.key"
    pair = read_key_file(secret_file)
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert pair.public in out.stdout and pair.secret not in out.stdout + out.stderr
    assert pair.secret not in (tmp_path / "alice.pub").read_text()
    listed = {k["name"]: k for k in json.loads(emspool(db, "--json", "keys", "list").stdout)}
    assert listed["alice"]["role"] == "operator" and listed["alice"]["public_key"] == pair.public


def test_a_name_is_taken_once_and_bad_keys_are_refused(tmp_path):
    db = f"sqlite:///{tmp_path / 'pool.db'}"
    emspool(db, "keys", "create", "bob", "--role", "viewer", "--out", str(tmp_path / "a"))
    dup = emspool(
        db, "keys", "create", "bob", "--role", "agent", "--out", str(tmp_path / "b"), ok=False
    )
    assert dup.returncode == 1 and "bob" in dup.stderr
    assert not (tmp_path / "b" / "bob.key").exists()  # nothing left behind
    bad = emspool(db, "keys", "allow", "carol", "not-a-key", "--role", "viewer", ok=False)
    assert bad.returncode == 1 and "CURVE public key" in bad.stderr
    other = load_or_create(tmp_path / "carol.key", "carol")[0]
    emspool(db, "keys", "allow", "carol", other.public, "--role", "operator", "--comment", "laptop")
    emspool(db, "keys", "revoke", "carol")
    gone = emspool(db, "keys", "revoke", "carol", ok=False)
    assert gone.returncode == 1
    rows = {k["name"]: k for k in json.loads(emspool(db, "--json", "keys", "list").stdout)}
    assert rows["carol"]["revoked"] is not None and rows["carol"]["comment"] == "laptop"
    assert rows["bob"]["revoked"] is None and rows["bob"]["role"] == "viewer"
    text = emspool(db, "keys", "list").stdout
    assert "carol" in text and other.secret not in text


def test_key_files_are_private_and_never_overwritten(tmp_path):
    path = tmp_path / "k" / "bus.key"
    pair, created = load_or_create(path, "a1")
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path, "a1") == (pair, False)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_key_file(path)
    with pytest.raises(ConfigError):  # the public half is no key pair
        read_key_file(tmp_path / "k" / "bus.pub")
    with pytest.raises(ConfigError, match="already there"):
        from agent.keys import write_key_file

        write_key_file(path, pair, "a1")


def test_allow_is_idempotent_one_key_has_one_name_and_revoked_keys_stay_out(tmp_path):
    from agent.db import Database, InventoryConflict, migrate
    from agent.keys import KeyStore, generate
    from shared.wire import KeyRole

    url = f"sqlite:///{tmp_path / 'pool.db'}"
    migrate(url)
    k1, k2 = generate(), generate()
    with Database.open(url) as db:
        store = KeyStore(db)
        store.allow("dave", k1.public, KeyRole.VIEWER)
        store.allow("dave", k1.public, KeyRole.VIEWER)  # as asked already: nothing to do
        with pytest.raises(InventoryConflict, match="already known as 'dave'"):
            store.allow("erin", k1.public, KeyRole.VIEWER)
        with pytest.raises(InventoryConflict, match="exists"):
            store.allow("dave", k2.public, KeyRole.VIEWER)
        store.revoke("dave")
        with pytest.raises(InventoryConflict, match="never allowed again"):
            store.allow("dave", k1.public, KeyRole.VIEWER)
        store.allow("dave", k2.public, KeyRole.OPERATOR)  # a new key for the same person
        assert [(k.name, k.public_key, k.role) for k in store.active()] == [
            ("dave", k2.public, KeyRole.OPERATOR)
        ]


def test_an_agent_whose_key_was_revoked_does_not_rejoin_with_it(tmp_path):
    from agent.bussetup import load_security
    from agent.db import Database, migrate
    from agent.keys import KeyStore
    from shared.config import parse_config

    url = f"sqlite:///{tmp_path / 'pool.db'}"
    migrate(url)
    cfg = parse_config(
        f'[agent]\nnode_id = "a9"\ndata_dir = "{tmp_path / "a9"}"\n[database]\nurl = "{url}"\n'
    )
    with Database.open(url) as db:
        first = load_security(cfg, db)
        assert first.keypair is not None and first.allow.get(first.keypair.public) is not None
        again = load_security(cfg, db)  # a restart: the same key, still allowed
        assert again.keypair == first.keypair
        KeyStore(db).revoke("a9")
        with pytest.raises(ConfigError, match="revoked"):
            load_security(cfg, db)
        (tmp_path / "a9" / "bus.key").unlink()
        (tmp_path / "a9" / "bus.pub").unlink()
        renewed = load_security(cfg, db)  # the operator's way back: a new key pair
        assert renewed.keypair is not None and renewed.keypair != first.keypair
        assert renewed.allow.get(first.keypair.public) is None

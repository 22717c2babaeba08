"""Credentials at rest in real SQLite and PostgreSQL databases: sealed with the pool key,
unreadable without it (with a clear error), rotated without losing a profile."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from agent.db import Database
from agent.secretbox import SecretBox, SecretsKeyError
from shared.model import CredentialProfile, SnmpVersion
from shared.schema import credential_profiles
from tests.helpers.pgdb import BACKENDS, empty_tables, migrated_database

pytestmark = pytest.mark.timeout(60)

V3 = CredentialProfile(
    name="core",
    version=SnmpVersion.V3,
    user="nms",
    auth_protocol="sha256",
    auth_key="s3cret-auth",
    priv_protocol="aes",
    priv_key="s3cret-priv",
)
V2 = CredentialProfile(name="edge", community="s3cret-community")
SECRETS = ("s3cret-auth", "s3cret-priv", "s3cret-community")


@pytest.fixture(scope="module", params=BACKENDS)
def url(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory.mktemp("sealed")) as u:
        yield u


@pytest.fixture
def box(tmp_path) -> SecretBox:
    return SecretBox.create(tmp_path / "pool-secrets.key")


def raw_rows(url: str) -> str:
    with Database.open(url) as db, db.transaction("raw") as conn:
        return repr(conn.execute(select(credential_profiles)).all())


def test_sealed_on_write_opened_on_read_and_unchanged_writes_are_no_ops(url, box):
    empty_tables(url)
    with Database.open(url, secrets=box) as db:
        assert db.upsert_profile(V3) and db.upsert_profile(V2)
        assert db.upsert_profile(V3) is False  # same values: nothing written
        assert db.get_profiles() == {"core": V3, "edge": V2}
        assert db.get_profile("core") == V3
    stored = raw_rows(url)
    assert "enc:1:" in stored
    assert not any(s in stored for s in SECRETS), "a secret is stored in plain text"


def test_without_the_key_or_with_another_a_clear_error_and_other_profiles_still_read(
    url, box, tmp_path, caplog
):
    empty_tables(url)
    with Database.open(url, secrets=box) as db:
        db.upsert_profile(V3)
    with Database.open(url) as plain:
        plain.upsert_profile(V2)  # a host without a key writes as before
        caplog.set_level(logging.ERROR)
        assert set(plain.get_profiles()) == {"edge"}
        assert set(plain.get_profiles()) == {"edge"}
        errors = [r.getMessage() for r in caplog.records if "core" in r.getMessage()]
        assert len(errors) == 1 and "no pool secrets key" in errors[0]  # once, not per read
        with pytest.raises(SecretsKeyError, match=r"secrets\.key_file"):
            plain.get_profile("core")
    other = SecretBox.create(tmp_path / "other.key")
    with Database.open(url, secrets=other) as db:
        with pytest.raises(SecretsKeyError, match="does not have"):
            db.get_profile("core")
        assert all(s not in caplog.text for s in SECRETS)


def test_rotation_reseals_everything_with_the_new_key(url, tmp_path):
    empty_tables(url)
    old_path = tmp_path / "old.key"
    old = SecretBox.create(old_path)
    with Database.open(url, secrets=old) as db:
        db.upsert_profile(V3)
    with Database.open(url) as plain:
        plain.upsert_profile(V2)  # legacy plain text
    new_key = SecretBox.new_key()
    both_path = tmp_path / "both.key"
    both_path.write_bytes(new_key + b"\n" + old_path.read_bytes().splitlines()[-1] + b"\n")
    both_path.chmod(0o600)
    with Database.open(url, secrets=SecretBox.load(both_path)) as db:
        assert db.reseal_profiles() == 2
    assert not any(s in raw_rows(url) for s in SECRETS)
    only_new = SecretBox([new_key])
    with Database.open(url, secrets=only_new) as db:
        assert db.get_profiles() == {"core": V3, "edge": V2}

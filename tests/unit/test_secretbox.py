"""The pool secrets key: sealing, opening, rotation, and refusing loose key files."""

from __future__ import annotations

import os

import pytest

from agent.secretbox import PREFIX, SecretBox, SecretsKeyError, is_sealed


def test_seal_open_and_rotate(tmp_path):
    path = tmp_path / "secrets.key"
    old = SecretBox.create(path)
    stored = old.seal("community-Secret-1")
    assert is_sealed(stored) and "community-Secret-1" not in stored
    assert old.open(stored, "p") == "community-Secret-1"
    assert old.seal("") == "" and old.open("plain-legacy", "p") == "plain-legacy"
    # rotation: a new key first, the old one still there to read
    new_key = SecretBox.new_key()
    path.write_text(new_key.decode() + "\n" + path.read_text())
    both = SecretBox.load(path)
    resealed = both.reseal(stored, "p")
    assert resealed != stored and both.open(resealed, "p") == "community-Secret-1"
    only_new = SecretBox([new_key])
    assert only_new.open(resealed, "p") == "community-Secret-1"
    with pytest.raises(SecretsKeyError, match="does not have"):
        only_new.open(stored, "profile lab-v2c")


def test_loose_or_broken_key_files_are_refused(tmp_path):
    path = tmp_path / "secrets.key"
    SecretBox.create(path)
    with pytest.raises(FileExistsError):
        SecretBox.create(path)  # never overwrites a key: secrets would be lost
    os.chmod(path, 0o644)
    with pytest.raises(SecretsKeyError, match="chmod 600"):
        SecretBox.load(path)
    with pytest.raises(SecretsKeyError, match="No such file"):
        SecretBox.load(tmp_path / "none.key")
    bad = tmp_path / "bad.key"
    bad.write_text("not-a-key\n")
    bad.chmod(0o600)
    with pytest.raises(SecretsKeyError, match="malformed"):
        SecretBox.load(bad)
    os.chmod(path, 0o600)
    with pytest.raises(SecretsKeyError, match="does not have"):
        SecretBox.load(path).open(PREFIX + "zz", "p")

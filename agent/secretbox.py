"""Credentials at rest: the secret fields of credentials profiles (communities, SNMPv3 keys,
NETCONF passwords) are stored encrypted with a pool key that lives outside the database.

The key file holds one or more Fernet keys (cryptography's AES-128-CBC + HMAC-SHA256 token
format), newest first, one per line. New values are encrypted with the first key; any key
decrypts, so a rotation is: put a new key first, run `emspool keys rotate-secrets` (it
re-encrypts every stored secret with the first key), then drop the old line. The file must be
readable by its owner only; under systemd it can come from `LoadCredential=` (the unit's
$CREDENTIALS_DIRECTORY).

Stored form: ``enc:1:<token>``. A value without the prefix is legacy plain text: it is still
read, and the rotation encrypts it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.errors import ConfigError

PREFIX = "enc:1:"
CREDENTIAL_NAME = "pool-secrets.key"  # the LoadCredential= name the unit uses


class SecretsKeyError(ConfigError):
    """A secret cannot be read or written: no key, a bad key file, or a foreign key."""


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretsKeyError("the pool secrets key file holds no key")
        try:
            self._f = MultiFernet([Fernet(k) for k in keys])
        except ValueError:
            raise SecretsKeyError("the pool secrets key file holds a malformed key") from None

    @staticmethod
    def new_key() -> bytes:
        return Fernet.generate_key()

    @classmethod
    def load(cls, path: str | Path) -> SecretBox:
        p = Path(path)
        try:
            st = p.stat()
        except OSError as e:
            raise SecretsKeyError(f"pool secrets key {p}: {e.strerror}") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretsKeyError(
                f"pool secrets key {p} is readable by others (mode {stat.filemode(st.st_mode)});"
                f" run: chmod 600 {p}"
            )
        lines = [ln.strip() for ln in p.read_text(encoding="ascii").splitlines()]
        return cls([ln.encode() for ln in lines if ln and not ln.startswith("#")])

    @classmethod
    def create(cls, path: str | Path) -> SecretBox:
        """Write a new key file (mode 0600, refusing to overwrite one)."""
        p = Path(path)
        key = cls.new_key()
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(b"# emspool pool secrets key: newest first; keep a copy off this host\n")
            f.write(key + b"\n")
        return cls([key])

    def seal(self, value: str) -> str:
        """The stored form of a secret (empty stays empty: "not set" is not a secret)."""
        if not value:
            return ""
        return PREFIX + self._f.encrypt(value.encode()).decode("ascii")

    def open(self, stored: str, what: str) -> str:
        if not is_sealed(stored):
            return stored  # legacy plain text
        try:
            return self._f.decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretsKeyError(
                f"{what}: encrypted with a pool key this agent does not have "
                "(check secrets.key_file on every agent)"
            ) from None

    def reseal(self, stored: str, what: str) -> str:
        """Re-encrypt with the newest key (plain legacy values get encrypted)."""
        return self.seal(self.open(stored, what)) if stored else ""


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def default_key_path(config_path: str = "") -> str:
    """systemd's credential if the unit passed one, else none (the config must say)."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / CREDENTIAL_NAME).exists():
        return str(Path(creds) / CREDENTIAL_NAME)
    return config_path


def box_for(configured: str) -> SecretBox | None:
    """The pool secrets key an agent or the CLI uses: the configured file, else systemd's
    credential, else none (profiles are then read and written in plain text)."""
    path = configured or default_key_path()
    return SecretBox.load(path) if path else None

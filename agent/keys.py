"""CURVE key pairs of the bus: key files on disk and the allow-list in the database.

A secret key lives in one file, mode 0600, created exclusively (never over another file,
never world-readable even for an instant), in the ZeroMQ certificate format that
``zmq.auth.load_certificate`` reads; its public half is written beside it (``NAME.pub``)
and in the pool database (``bus_keys``, with a role). Secret keys are never printed,
logged or sent: ``KeyPair``'s repr hides them.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from sqlalchemy import insert, select, update

from agent.db import Database, InventoryConflict
from shared.errors import ConfigError, NotFound
from shared.schema import agents, bus_keys
from shared.wire import KeyRole

_Z85_LEN = 40  # a 32-byte CURVE key in Z85


@dataclass(frozen=True, slots=True)
class KeyPair:
    public: str  # Z85
    secret: str = field(repr=False)  # Z85; never logged


@dataclass(frozen=True, slots=True)
class BusKey:
    """One allow-listed public key."""

    name: str
    public_key: str
    role: KeyRole
    created: float
    revoked: float | None
    comment: str

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "public_key": self.public_key,
            "role": self.role.value,
            "created": self.created,
            "revoked": self.revoked,
            "comment": self.comment,
        }


def generate() -> KeyPair:
    public, secret = zmq.curve_keypair()
    return KeyPair(public.decode("ascii"), secret.decode("ascii"))


def check_public(text: str) -> str:
    """A Z85 CURVE public key as given by a user, or ConfigError."""
    key = text.strip()
    try:
        ok = len(key) == _Z85_LEN and len(zmq.utils.z85.decode(key)) == 32
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise ConfigError(f"not a CURVE public key (40 Z85 characters): {key[:48]!r}")
    return key


def public_path(secret_path: Path) -> Path:
    return secret_path.with_suffix(".pub")


def write_key_file(path: Path, pair: KeyPair, name: str) -> None:
    """The secret file (0600, must not exist yet) and its public half beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"#   emspool bus key {name!r}: keep secret, mode 0600\n\n"
    secret_text = (
        f'{header}metadata\n    name = "{name}"\ncurve\n'
        f'    public-key = "{pair.public}"\n    secret-key = "{pair.secret}"\n'
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: a key file is already there; not overwritten") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secret_text)
    pub = public_path(path)
    pub.write_text(
        f'#   emspool bus key {name!r} (public)\n\nmetadata\n    name = "{name}"\ncurve\n'
        f'    public-key = "{pair.public}"\n',
        encoding="ascii",
    )


def read_key_file(path: Path) -> KeyPair:
    """A secret key file; refused when others may read it (like ssh does)."""
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise ConfigError(f"{path}: no bus key there ({e.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: bus key readable by others (mode {mode & 0o777:o}); chmod 600")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: not a bus key file: {e}") from None
    if not secret:
        raise ConfigError(f"{path}: holds no secret key (a .pub file?)")
    return KeyPair(public.decode("ascii"), secret.decode("ascii"))


def read_public(path: Path) -> str:
    """The public key of a key file or of its ``.pub`` file."""
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: not a bus key file: {e}") from None
    return public.decode("ascii")


def load_or_create(path: Path, name: str) -> tuple[KeyPair, bool]:
    """This host's key pair, made on first use; (pair, created)."""
    if path.exists():
        return read_key_file(path), False
    pair = generate()
    write_key_file(path, pair, name)
    return pair, True


# -- the allow-list in the pool database --------------------------------------------------


class KeyStore:
    """``bus_keys`` rows: which public keys may use the bus, and with which role."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def allow(
        self, name: str, public_key: str, role: KeyRole, comment: str = "", *, replace: bool = False
    ) -> None:
        """Allow a key under a name. A name in use takes a new key only once revoked, or
        with ``replace`` for the same role (an agent's renewed key pair); a revoked key is
        never allowed again, and one key has one name."""
        key = check_public(public_key)
        with self.db.transaction(f"allowing bus key {name!r}") as conn:
            row = conn.execute(select(bus_keys).where(bus_keys.c.name == name)).first()
            holder = conn.execute(select(bus_keys).where(bus_keys.c.public_key == key)).first()
            if holder is not None and holder.name != name:
                raise InventoryConflict(f"that public key is already known as {holder.name!r}")
            values = {"public_key": key, "role": role.value, "comment": comment}
            if row is None:
                conn.execute(insert(bus_keys).values(name=name, created=time.time(), **values))
                return
            if row.public_key == key:
                if row.revoked is not None:
                    raise InventoryConflict(
                        f"bus key {name!r} was revoked, and a revoked key is never allowed "
                        "again: make a new key pair"
                    )
                if row.role != role.value:
                    raise InventoryConflict(f"bus key {name!r} is allowed as {row.role} already")
                return  # allowed as asked already
            if row.revoked is None and not (replace and row.role == role.value):
                raise InventoryConflict(f"a bus key named {name!r} exists (revoke it first)")
            conn.execute(
                update(bus_keys)
                .where(bus_keys.c.name == name)
                .values(revoked=None, created=time.time(), **values)
            )

    def revoke(self, name: str) -> None:
        with self.db.transaction(f"revoking bus key {name!r}") as conn:
            done = conn.execute(
                update(bus_keys)
                .where(bus_keys.c.name == name, bus_keys.c.revoked.is_(None))
                .values(revoked=time.time())
            )
            if not done.rowcount:
                raise NotFound(f"no allowed bus key named {name!r}")

    def list_keys(self) -> list[BusKey]:
        with self.db.transaction("listing bus keys") as conn:
            rows = conn.execute(select(bus_keys).order_by(bus_keys.c.name)).all()
        return [
            BusKey(r.name, r.public_key, KeyRole(r.role), r.created, r.revoked, r.comment)
            for r in rows
        ]

    def active(self) -> list[BusKey]:
        return [k for k in self.list_keys() if k.revoked is None]

    def agent_keys(self) -> dict[str, str]:
        """node id -> the public key its ``agents`` row advertises (servers' keys)."""
        with self.db.transaction("reading agents' public keys") as conn:
            rows = conn.execute(select(agents.c.node_id, agents.c.public_key)).all()
        return {r.node_id: r.public_key for r in rows}


def create_key(
    db: Database, name: str, role: KeyRole, out_dir: Path, comment: str = ""
) -> tuple[Path, KeyPair]:
    """``emspool keys create``: a new key pair in ``out_dir/NAME.key`` (0600) and
    ``NAME.pub``, allowed in the pool database with ``role``."""
    if not name or len(name) > 100 or any(c in name for c in "/\\\0") or name.startswith("."):
        raise ConfigError(f"a key name is 1-100 characters without '/': {name!r}")
    pair = generate()
    path = out_dir / f"{name}.key"
    write_key_file(path, pair, name)
    try:
        KeyStore(db).allow(name, pair.public, role, comment)
    except BaseException:
        path.unlink(missing_ok=True)
        public_path(path).unlink(missing_ok=True)
        raise
    return path, pair


def secure_client(sock: zmq.Socket[Any], key: KeyPair, server_key: str) -> None:
    """Make ``sock`` (before it connects) a CURVE client of the server with ``server_key``."""
    sock.curve_secretkey = key.secret.encode("ascii")
    sock.curve_publickey = key.public.encode("ascii")
    sock.curve_serverkey = server_key.encode("ascii")

"""Credentials profiles in the database, their secrets sealed with the pool key when this
host has one (agent/secretbox.py); each function runs inside the caller's transaction."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, delete, select, update

from agent.inventory import SECRET_FIELDS, profile_from_row, profile_values
from agent.rows import InventoryConflict, named_row, write_named_row
from agent.secretbox import SecretBox, SecretsKeyError
from shared.errors import NotFound
from shared.model import CredentialProfile
from shared.schema import credential_profiles, network_elements

log = logging.getLogger(__name__)


def read_all(
    conn: Connection, box: SecretBox | None, unreadable: set[str]
) -> dict[str, CredentialProfile]:
    """``unreadable``: names already reported, so a refresh loop logs each one once."""
    rows = conn.execute(select(credential_profiles).order_by(credential_profiles.c.name)).all()
    out: dict[str, CredentialProfile] = {}
    for row in rows:
        try:
            out[row.name] = profile_from_row(row, box)
        except SecretsKeyError as e:
            if row.name not in unreadable:
                log.error("%s", e)
                unreadable.add(row.name)
        else:
            unreadable.discard(row.name)
    return out


def read_one(conn: Connection, name: str, box: SecretBox | None) -> CredentialProfile:
    row = named_row(conn, credential_profiles, name)
    if row is None:
        raise NotFound(f"credential profile {name!r} not found")
    return profile_from_row(row, box)


def upsert(conn: Connection, p: CredentialProfile, box: SecretBox | None, now: float) -> bool:
    t = credential_profiles
    row = named_row(conn, t, p.name)
    if row is not None:
        # Sealing is randomised: compare what is stored, opened, with what is given.
        try:
            if profile_from_row(row, box) == p:
                return False
        except SecretsKeyError:
            pass  # sealed with another key: the new values replace it
    return write_named_row(conn, t, p.name, row, profile_values(p, box), now)


def remove(conn: Connection, name: str) -> None:
    users = (
        conn.execute(
            select(network_elements.c.name)
            .where(network_elements.c.profile == name)
            .order_by(network_elements.c.name)
        )
        .scalars()
        .all()
    )
    if users:
        shown = ", ".join(users[:5]) + (", ..." if len(users) > 5 else "")
        raise InventoryConflict(
            f"credential profile {name!r} is used by {len(users)} NE(s) ({shown}); "
            "move or remove them first"
        )
    t = credential_profiles
    if not conn.execute(delete(t).where(t.c.name == name)).rowcount:
        raise NotFound(f"credential profile {name!r} not found")


def reseal(conn: Connection, box: SecretBox) -> int:
    t = credential_profiles
    done = 0
    for row in conn.execute(select(t)).all():
        what = f"credentials profile {row.name!r}"
        values = {f: box.reseal(str(getattr(row, f)), what) for f in SECRET_FIELDS}
        conn.execute(update(t).where(t.c.name == row.name).values(**values))
        done += 1
    return done

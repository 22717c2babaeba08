"""`emspool keys`: the bus keys allowed on the pool's bus (create, list, allow, revoke).

Public keys and roles live in the pool database; a secret key is written once, to a file
only its owner can read, and never printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.cliopts import open_db, output
from agent.keys import KeyStore, check_public, create_key
from agent.tables import table, when
from shared.wire import KeyRole

ROLES = tuple(r.value for r in KeyRole)


def cmd_create(args: argparse.Namespace) -> int:
    with open_db(args, create=True) as db:
        path, pair = create_key(db, args.name, KeyRole(args.role), Path(args.out), args.comment)
    data = {"name": args.name, "role": args.role, "key_file": str(path), "public_key": pair.public}
    text = (
        f"created bus key {args.name!r} ({args.role}): secret in {path} (mode 0600), "
        f"public key {pair.public}\nuse it with --key {path} or EMSPOOL_KEY={path}"
    )
    output(args, data, text)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_db(args) as db:
        keys = KeyStore(db).list_keys()
    rows = [
        (
            k.name,
            k.role.value,
            k.public_key,
            when(k.created),
            when(k.revoked) if k.revoked else "-",
            k.comment,
        )
        for k in keys
    ]
    heads = ("name", "role", "public key", "created", "revoked", "comment")
    output(args, [k.to_dict() for k in keys], table(heads, rows))
    return 0


def cmd_allow(args: argparse.Namespace) -> int:
    public = check_public(args.public)
    with open_db(args, create=True) as db:
        KeyStore(db).allow(args.name, public, KeyRole(args.role), args.comment)
    print(f"allowed bus key {args.name!r} ({args.role}); agents take it within seconds")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with open_db(args) as db:
        KeyStore(db).revoke(args.name)
    print(f"revoked bus key {args.name!r}; agents refuse it within seconds")
    return 0


def cmd_rotate_secrets(args: argparse.Namespace) -> int:
    """Re-encrypt every profile's secrets with the newest key of the pool secrets key file
    (the first line); plain-text secrets of an older install are encrypted too."""
    with open_db(args) as db:
        if db.secrets is None:
            print(
                "emspool: no pool secrets key: give --secrets-key FILE, EMSPOOL_SECRETS_KEY or "
                "a --config with secrets.key_file"
            )
            return 1
        n = db.reseal_profiles()
    output(
        args,
        {"resealed": n},
        f"re-encrypted the secrets of {n} profile(s) with the newest key; once every agent "
        "has reloaded the key file, the old key's line can be removed",
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="bus keys (CURVE) and their roles").add_subparsers(
        dest="keys_cmd", required=True
    )
    p = keys.add_parser("create", help="make a key pair and allow its public key")
    p.add_argument("name", help="who uses it (recorded as the user of its acknowledgements)")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--out", default=".", help="directory for NAME.key (0600) and NAME.pub")
    p.add_argument("--comment", default="")
    p.set_defaults(func=cmd_create)
    p = keys.add_parser("list", help="allowed and revoked keys (public halves only)")
    p.set_defaults(func=cmd_list)
    p = keys.add_parser("allow", help="allow a public key made elsewhere")
    p.add_argument("name")
    p.add_argument("public", help="the CURVE public key, 40 Z85 characters")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--comment", default="")
    p.set_defaults(func=cmd_allow)
    p = keys.add_parser(
        "rotate-secrets",
        help="re-encrypt credentials profiles with the newest pool secrets key (first line)",
    )
    p.set_defaults(func=cmd_rotate_secrets)
    p = keys.add_parser("revoke", help="refuse a key from now on")
    p.add_argument("name")
    p.set_defaults(func=cmd_revoke)

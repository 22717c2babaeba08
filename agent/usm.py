"""The USM machinery shared by our v3 poll transport (agent/snmp/_v3.py) and the trap receiver.

One copy of: a profile's USM user, the key cache (password-to-key costs ~2 ms, localization
microseconds), the DES-CBC and AES-CFB ciphers, and the two message operations: ``protect``
(encrypt and sign an outgoing message) and ``unprotect`` (check the digest and decrypt an
incoming one). The protocol names and key arithmetic come from shared/snmp_security.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.modes import CBC

try:  # cryptography >= 43 files CFB and 3DES under "decrepit" (still what RFC 3414/3826 use)
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        TripleDES,
    )
    from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[assignment,unused-ignore]

from shared import snmp_security as sec
from shared import usm
from shared.model import CredentialProfile, SnmpVersion

# Bounds of the key caches (entries); a full cache is emptied, not evicted entry by entry.
MAX_KEYS = 8192


@dataclass(frozen=True, slots=True)
class UsmUser:
    """A v3 user as the USM needs it (secrets kept out of repr). Hashable: cache keys."""

    name: bytes
    auth: sec.AuthProtocol | None
    auth_password: bytes = field(repr=False)
    priv: sec.PrivProtocol | None
    priv_password: bytes = field(repr=False)

    @property
    def flags(self) -> int:
        """msgFlags of this user's requests (reportable, as every request is)."""
        flags = usm.FLAG_REPORTABLE
        if self.auth is not None:
            flags |= usm.FLAG_AUTH
        if self.priv is not None:
            flags |= usm.FLAG_PRIV
        return flags

    @property
    def level(self) -> int:
        return sec.flags_level(self.flags)


def usm_user(profile: CredentialProfile) -> UsmUser | None:
    """The USM form of a v3 profile; None for other versions. ValueError on unknown names."""
    if profile.version is not SnmpVersion.V3:
        return None
    level = sec.security_level(profile.auth_protocol, profile.priv_protocol)
    auth = sec.AUTH_PROTOCOLS[profile.auth_protocol.strip().lower()] if level > 1 else None
    priv = sec.PRIV_PROTOCOLS[profile.priv_protocol.strip().lower()] if level > 2 else None
    return UsmUser(
        profile.user.encode(),
        auth,
        profile.auth_key.encode() if auth else b"",
        priv,
        profile.priv_key.encode() if priv else b"",
    )


@dataclass(frozen=True, slots=True)
class Keys:
    """A user's keys localized to one engine."""

    auth: bytes = field(repr=False)
    priv: bytes = field(repr=False)  # AES key, or DES key + pre-IV


class KeyCache:
    """Master keys per (hash, password) and localized keys per (user, engine ID)."""

    def __init__(self) -> None:
        self._master: dict[tuple[str, bytes], bytes] = {}
        self._local: dict[tuple[UsmUser, bytes], Keys] = {}

    def keys(
        self, user: UsmUser, engine_id: bytes, *, cache: bool = True, priv: bool = True
    ) -> Keys | None:
        """The user's keys for ``engine_id`` (None without authentication). ``cache=False``
        for an engine ID not yet proven (a first trap): nothing of it stays; ``priv=False``
        (with it): the authentication key only, to check a digest first."""
        auth = user.auth
        if auth is None:
            return None
        found = self._local.get((user, engine_id))
        if found is not None:
            return found
        auth_key = sec.localize_key(auth, self._master_key(auth, user.auth_password), engine_id)
        priv_key = b""
        if user.priv is not None and (priv or cache):
            local = sec.localize_key(auth, self._master_key(auth, user.priv_password), engine_id)
            priv_key = sec.privacy_key(auth, user.priv, local, engine_id)
        keys = Keys(auth_key, priv_key)
        if cache:
            if len(self._local) >= MAX_KEYS:
                self._local.clear()
            self._local[(user, engine_id)] = keys
        return keys

    def _master_key(self, auth: sec.AuthProtocol, password: bytes) -> bytes:
        key = self._master.get((auth.hash_name, password))
        if key is None:
            key = sec.password_to_key(auth, password)
            if len(self._master) >= MAX_KEYS:
                self._master.clear()
            self._master[(auth.hash_name, password)] = key
        return key

    def retain(self, users: Iterable[UsmUser]) -> None:
        """Forget every key not derived for one of ``users`` (a profile changed or went)."""
        keep = set(users)
        passwords = {(u.auth.hash_name, p) for u in keep if u.auth for p in _passwords(u)}
        self._local = {k: v for k, v in self._local.items() if k[0] in keep}
        self._master = {k: v for k, v in self._master.items() if k in passwords}

    def clear(self) -> None:
        self._master.clear()
        self._local.clear()

    def __len__(self) -> int:
        return len(self._master) + len(self._local)

    def users(self) -> set[bytes]:
        """User names with localized keys cached (for status and tests; no secrets)."""
        return {user.name for user, _engine in self._local}

    def holds(self, password: bytes) -> bool:
        """Whether anything derived from ``password`` is cached (tests check removals)."""
        return any(p == password for _h, p in self._master) or any(
            password in _passwords(u) for u, _e in self._local
        )


def _passwords(user: UsmUser) -> tuple[bytes, ...]:
    return tuple(p for p in (user.auth_password, user.priv_password) if p)


class Salts:
    """The privacy parameters of outgoing messages: never reused under one key."""

    def __init__(self) -> None:
        self._aes = random.getrandbits(64)
        self._des = random.getrandbits(32)

    def next(self, priv: sec.PrivProtocol, boots: int) -> bytes:
        if priv.cipher == "des":
            # RFC 3414 8.1.1.1: the engine's boots, then a 32-bit counter.
            self._des = (self._des + 1) & 0xFFFFFFFF
            return boots.to_bytes(4, "big") + self._des.to_bytes(4, "big")
        self._aes = (self._aes + 1) & 0xFFFFFFFFFFFFFFFF
        return self._aes.to_bytes(8, "big")


def encrypt(
    priv: sec.PrivProtocol, key: bytes, boots: int, time: int, salt: bytes, data: bytes
) -> bytes:
    if priv.cipher == "des":
        data += bytes(-len(data) % 8)  # RFC 3414 8.1.1.2: pad to whole blocks
        ctx = Cipher(TripleDES(key[:8] * 3), CBC(sec.des_iv(key[8:16], salt))).encryptor()
    else:
        ctx = Cipher(algorithms.AES(key), CFB(sec.aes_iv(boots, time, salt))).encryptor()
    return ctx.update(data) + ctx.finalize()


def decrypt(
    priv: sec.PrivProtocol, key: bytes, boots: int, time: int, salt: bytes, data: bytes
) -> bytes | None:
    """The plaintext, or None when the parameters cannot be right (decryptionError)."""
    if len(salt) != 8:
        return None
    if priv.cipher == "des":
        if not data or len(data) % 8:
            return None
        # Single DES is 3DES with one key three times (EDE with K1 = K2 = K3).
        ctx = Cipher(TripleDES(key[:8] * 3), CBC(sec.des_iv(key[8:16], salt))).decryptor()
    else:
        ctx = Cipher(algorithms.AES(key), CFB(sec.aes_iv(boots, time, salt))).decryptor()
    return ctx.update(data) + ctx.finalize()


def protect(
    user: UsmUser,
    keys: Keys | None,
    salts: Salts,
    *,
    msg_id: int,
    flags: int,
    engine_id: bytes,
    boots: int,
    time: int,
    scoped: bytes,
    max_size: int = usm.MAX_MESSAGE_SIZE,
) -> bytes:
    """Encode one outgoing message at the level ``flags`` asks (encrypted, signed)."""
    priv_params = b""
    auth = user.auth if flags & usm.FLAG_AUTH else None
    if flags & usm.FLAG_PRIV and user.priv is not None and keys is not None:
        priv_params = salts.next(user.priv, boots)
        scoped = encrypt(user.priv, keys.priv, boots, time, priv_params, scoped)
    datagram, offset = usm.encode_message(
        msg_id=msg_id,
        flags=flags,
        engine_id=engine_id,
        engine_boots=boots,
        engine_time=time,
        user=user.name,
        auth_length=auth.mac_length if auth else 0,
        priv_params=priv_params,
        data=scoped,
        encrypted=bool(priv_params),
        max_size=max_size,
    )
    if auth is not None and keys is not None:
        datagram = usm.sign(auth, keys.auth, datagram, offset)
    return datagram


def authentic(user: UsmUser, keys: Keys | None, datagram: bytes, msg: usm.V3Message) -> bool:
    """RFC 3414 3.2.6: the digest checks with these keys (False if the user has none)."""
    return (
        user.auth is not None
        and keys is not None
        and usm.verify(user.auth, keys.auth, datagram, msg)
    )


def plaintext(user: UsmUser, keys: Keys | None, msg: usm.V3Message) -> bytes | None:
    """RFC 3414 3.2.8: the ScopedPDU of an authenticated message; None: decryptionError."""
    if not msg.encrypted:
        return msg.data
    if user.priv is None or keys is None:
        return None
    return decrypt(
        user.priv, keys.priv, msg.engine_boots, msg.engine_time, msg.priv_params, msg.data
    )

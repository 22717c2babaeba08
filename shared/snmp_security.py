"""The one table of SNMPv3 USM protocols, their key arithmetic and the USM time rules.

Every path (polls, traps and informs, config validation, the pysnmp fallback) reads the
protocol names here. Pure code: no I/O, no clock (callers pass the time), no cipher (the
agent's adapter, agent/usm.py, runs DES and AES on the keys derived here).

AES-192/256 exist in two incompatible key-extension variants, both in use in the field, so
both are offered under explicit names, checked against net-snmp 5.9 (tests/integration/
test_snmpv3_matrix.py):

- ``aes192`` / ``aes256``: draft-blumenthal-aes-usm-04 (net-snmp ``AES192``/``AES256``):
  the localized key is extended with H(key so far).
- ``aes192c`` / ``aes256c``: the Reeder 3DES-draft extension that Cisco and others use
  (net-snmp ``AES192C``/``AES256C``): extended with the key localized from the localized key
  taken as a pass phrase.

With SHA-256 and longer hashes the localized key is long enough and both variants agree.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Final

TIME_WINDOW: Final = 150  # seconds, RFC 3414 2.2.3
MAX_BOOTS: Final = 0x7FFFFFFF  # snmpEngineBoots latched at 2^31-1 ends all authentic traffic
_ONE_MEGABYTE: Final = 1_048_576


@dataclass(frozen=True, slots=True)
class AuthProtocol:
    """An HMAC-based USM authentication protocol: the hash and the truncated MAC length."""

    name: str
    hash_name: str
    mac_length: int
    netsnmp: str  # net-snmp's -a / createUser spelling


class KeyExtension(enum.Enum):
    NONE = "none"  # the localized key is long enough (DES, AES-128)
    BLUMENTHAL = "blumenthal"
    REEDER = "reeder"


@dataclass(frozen=True, slots=True)
class PrivProtocol:
    """A USM privacy protocol: cipher, key length and how a short localized key is extended."""

    name: str
    cipher: str  # "des" (CBC, RFC 3414 8) or "aes" (CFB-128, RFC 3826)
    key_length: int
    extension: KeyExtension
    netsnmp: str  # net-snmp's -x / createUser spelling


AUTH_PROTOCOLS: Final[dict[str, AuthProtocol]] = {
    p.name: p
    for p in (
        AuthProtocol("md5", "md5", 12, "MD5"),  # usmHMACMD5AuthProtocol
        AuthProtocol("sha", "sha1", 12, "SHA"),  # usmHMACSHAAuthProtocol
        AuthProtocol("sha224", "sha224", 16, "SHA-224"),  # RFC 7860 usmHMAC128SHA224
        AuthProtocol("sha256", "sha256", 24, "SHA-256"),  # usmHMAC192SHA256
        AuthProtocol("sha384", "sha384", 32, "SHA-384"),  # usmHMAC256SHA384
        AuthProtocol("sha512", "sha512", 48, "SHA-512"),  # usmHMAC384SHA512
    )
}

_B, _R, _N = KeyExtension.BLUMENTHAL, KeyExtension.REEDER, KeyExtension.NONE
PRIV_PROTOCOLS: Final[dict[str, PrivProtocol]] = {
    p.name: p
    for p in (
        PrivProtocol("des", "des", 16, _N, "DES"),  # 8 octets key + 8 octets pre-IV
        PrivProtocol("aes", "aes", 16, _N, "AES"),  # RFC 3826 usmAesCfb128Protocol
        PrivProtocol("aes128", "aes", 16, _N, "AES"),
        PrivProtocol("aes192", "aes", 24, _B, "AES192"),
        PrivProtocol("aes256", "aes", 32, _B, "AES256"),
        PrivProtocol("aes192c", "aes", 24, _R, "AES192C"),
        PrivProtocol("aes256c", "aes", 32, _R, "AES256C"),
    )
}

# What a profile may name (config validation): "none" means no authentication / no privacy.
AUTH_NAMES: Final = ("none", *AUTH_PROTOCOLS)
PRIV_NAMES: Final = ("none", *PRIV_PROTOCOLS)

NO_AUTH_NO_PRIV: Final = 1
AUTH_NO_PRIV: Final = 2
AUTH_PRIV: Final = 3


def security_level(auth_name: str, priv_name: str) -> int:
    """The securityLevel (1..3) a profile's protocol names ask for; ValueError if unknown or
    privacy without authentication (RFC 3414 forbids it)."""
    auth, priv = auth_name.strip().lower(), priv_name.strip().lower()
    if auth not in AUTH_NAMES:
        raise ValueError(f"unknown auth protocol {auth_name!r} (one of {', '.join(AUTH_NAMES)})")
    if priv not in PRIV_NAMES:
        raise ValueError(f"unknown privacy protocol {priv_name!r} (one of {', '.join(PRIV_NAMES)})")
    if auth == "none":
        if priv != "none":
            raise ValueError("privacy needs authentication")
        return NO_AUTH_NO_PRIV
    return AUTH_NO_PRIV if priv == "none" else AUTH_PRIV


def flags_level(flags: int) -> int:
    """securityLevel from msgFlags (bit 0 auth, bit 1 priv)."""
    if flags & 0x02:
        return AUTH_PRIV
    return AUTH_NO_PRIV if flags & 0x01 else NO_AUTH_NO_PRIV


# -- keys (RFC 3414 2.6, A.2; RFC 7860 for SHA-2) ----------------------------------------------


def password_to_key(protocol: AuthProtocol, password: bytes) -> bytes:
    """RFC 3414 A.2: hash 1 MB of the password repeated (Ku, not yet localized)."""
    if not password:
        raise ValueError("empty pass phrase")
    repeated = password * (_ONE_MEGABYTE // len(password) + 1)
    return hashlib.new(protocol.hash_name, repeated[:_ONE_MEGABYTE]).digest()


def localize_key(protocol: AuthProtocol, key: bytes, engine_id: bytes) -> bytes:
    """RFC 3414 2.6: Kul = H(Ku || engineID || Ku)."""
    return hashlib.new(protocol.hash_name, key + engine_id + key).digest()


def privacy_key(
    auth: AuthProtocol, priv: PrivProtocol, localized: bytes, engine_id: bytes
) -> bytes:
    """The key material of ``priv`` from the localized privacy key, extended if too short.

    For DES that is the 8-octet key and the 8-octet pre-IV (RFC 3414 8.1.1.1); for AES the
    cipher key. The Reeder extension hashes a megabyte again: callers cache the result.
    """
    key = localized
    while len(key) < priv.key_length:
        if priv.extension is KeyExtension.BLUMENTHAL:
            key += hashlib.new(auth.hash_name, key).digest()
        elif priv.extension is KeyExtension.REEDER:
            key += localize_key(auth, password_to_key(auth, key), engine_id)
        else:
            raise ValueError(f"{priv.name}: localized key too short for {auth.name}")
    return key[: priv.key_length]


def des_iv(pre_iv: bytes, salt: bytes) -> bytes:
    """RFC 3414 8.1.1.1.2: the DES IV is the pre-IV XOR the 8-octet salt."""
    return bytes(a ^ b for a, b in zip(pre_iv, salt, strict=True))


def aes_iv(boots: int, time: int, salt: bytes) -> bytes:
    """RFC 3826 3.1.2.1: the engine's boots and time, then the 64-bit salt."""
    return boots.to_bytes(4, "big") + time.to_bytes(4, "big") + salt


# -- timeliness (RFC 3414 3.2.7) ---------------------------------------------------------------


def authoritative_in_window(boots: int, time: int, our_boots: int, our_time: int) -> bool:
    """3.2.7 a: a message for OUR engine (an inform) is timely if it names our boots and a
    time within 150 s of ours."""
    return our_boots != MAX_BOOTS and boots == our_boots and abs(time - our_time) <= TIME_WINDOW


@dataclass(frozen=True, slots=True)
class PeerClock:
    """Our notion of a remote authoritative engine's clock (RFC 3414 2.3): its boots, its
    time as last learnt at our clock reading ``at``, and latestReceivedEngineTime."""

    boots: int
    time: int
    at: float
    latest: int

    def time_at(self, now: float) -> int:
        return min(self.time + max(0, int(now - self.at)), MAX_BOOTS)


def learn_clock(boots: int, time: int, now: float) -> PeerClock:
    return PeerClock(boots, time, now, time)


def check_peer(
    clock: PeerClock | None, boots: int, time: int, now: float
) -> tuple[bool, PeerClock]:
    """3.2.7 b, for an AUTHENTICATED message whose authoritative engine is the sender's (a
    trap, or the answer to our request): (timely?, the updated notion).

    The notion moves forward only; a message more than 150 s behind it, or from an earlier
    boot, is a replay. Without a notion yet (the first trap of an engine) it is learnt.
    """
    if clock is None:
        return boots != MAX_BOOTS, learn_clock(boots, time, now)
    if boots > clock.boots or (boots == clock.boots and time > clock.latest):
        clock = learn_clock(boots, time, now)
    if clock.boots == MAX_BOOTS or boots < clock.boots:
        return False, clock
    if boots == clock.boots and time < clock.time_at(now) - TIME_WINDOW:
        return False, clock
    return True, clock

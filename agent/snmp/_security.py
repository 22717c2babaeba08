"""CredentialProfile -> checked security settings, and pysnmp's names for the fallback path.

The protocol names come from the one table (shared/snmp_security.py). pysnmp is only used
for v3 when SnmpClient(native_v3=False) asks for it (comparison benchmarks); its constants
are mapped by what each protocol IS (hash; cipher, key length, key extension), not by
name: pysnmp files the Blumenthal and Reeder AES-192/256 variants under confusing names
and object identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pysnmp.entity import config

from shared import snmp_security as sec
from shared.errors import ConfigError
from shared.model import CredentialProfile, SnmpVersion

_PYSNMP_AUTH: dict[str, Any] = {
    "md5": config.USM_AUTH_HMAC96_MD5,
    "sha1": config.USM_AUTH_HMAC96_SHA,
    "sha224": config.USM_AUTH_HMAC128_SHA224,
    "sha256": config.USM_AUTH_HMAC192_SHA256,
    "sha384": config.USM_AUTH_HMAC256_SHA384,
    "sha512": config.USM_AUTH_HMAC384_SHA512,
}
_B, _R, _N = sec.KeyExtension.BLUMENTHAL, sec.KeyExtension.REEDER, sec.KeyExtension.NONE
_PYSNMP_PRIV: dict[tuple[str, int, sec.KeyExtension], Any] = {
    ("des", 16, _N): config.USM_PRIV_CBC56_DES,
    ("aes", 16, _N): config.USM_PRIV_CFB128_AES,
    ("aes", 24, _B): config.USM_PRIV_CFB192_AES_BLUMENTHAL,
    ("aes", 32, _B): config.USM_PRIV_CFB256_AES_BLUMENTHAL,
    # pysnmp's "non-standard but used by many vendors" classes use the Reeder extension.
    ("aes", 24, _R): config.USM_PRIV_CFB192_AES,
    ("aes", 32, _R): config.USM_PRIV_CFB256_AES,
}


def pysnmp_auth(protocol: sec.AuthProtocol) -> Any:
    return _PYSNMP_AUTH[protocol.hash_name]


def pysnmp_priv(protocol: sec.PrivProtocol) -> Any:
    return _PYSNMP_PRIV[(protocol.cipher, protocol.key_length, protocol.extension)]


@dataclass(frozen=True, slots=True)
class Security:
    """What the engine needs to speak for one profile (secrets kept out of repr)."""

    mp_model: int  # 0: v1, 1: v2c, 3: v3
    level: str  # noAuthNoPriv | authNoPriv | authPriv
    auth_protocol: Any = None  # pysnmp's constant, for the fallback path
    priv_protocol: Any = None


def security_for(profile: CredentialProfile) -> Security:
    """Check the profile and map its names; ConfigError if it cannot work."""
    where = f"credential profile {profile.name!r}"
    if profile.version is SnmpVersion.V1 or profile.version is SnmpVersion.V2C:
        if not profile.community:
            raise ConfigError(f"{where}: SNMPv{profile.version.value} needs a community")
        return Security(
            mp_model=0 if profile.version is SnmpVersion.V1 else 1, level="noAuthNoPriv"
        )
    if profile.version is not SnmpVersion.V3:
        raise ConfigError(f"{where}: unknown SNMP version {profile.version!r}")
    if not profile.user:
        raise ConfigError(f"{where}: SNMPv3 needs a user name")
    try:
        level = sec.security_level(profile.auth_protocol, profile.priv_protocol)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if level == sec.NO_AUTH_NO_PRIV:
        return Security(mp_model=3, level="noAuthNoPriv")
    auth = sec.AUTH_PROTOCOLS[profile.auth_protocol.strip().lower()]
    # RFC 3414 2.6: pass phrases shorter than 8 characters are rejected by agents.
    if len(profile.auth_key) < 8:
        raise ConfigError(f"{where}: the auth key must be at least 8 characters")
    if level == sec.AUTH_NO_PRIV:
        return Security(mp_model=3, level="authNoPriv", auth_protocol=pysnmp_auth(auth))
    if len(profile.priv_key) < 8:
        raise ConfigError(f"{where}: the privacy key must be at least 8 characters")
    priv = sec.PRIV_PROTOCOLS[profile.priv_protocol.strip().lower()]
    return Security(
        mp_model=3,
        level="authPriv",
        auth_protocol=pysnmp_auth(auth),
        priv_protocol=pysnmp_priv(priv),
    )

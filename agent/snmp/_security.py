"""CredentialProfile -> the pysnmp USM / community settings, with our names checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pysnmp.entity import config

from shared.errors import ConfigError
from shared.model import CredentialProfile, SnmpVersion

_AUTH: dict[str, Any] = {
    "none": config.USM_AUTH_NONE,
    "md5": config.USM_AUTH_HMAC96_MD5,
    "sha": config.USM_AUTH_HMAC96_SHA,
    "sha224": config.USM_AUTH_HMAC128_SHA224,
    "sha256": config.USM_AUTH_HMAC192_SHA256,
    "sha384": config.USM_AUTH_HMAC256_SHA384,
    "sha512": config.USM_AUTH_HMAC384_SHA512,
}

# aes192/aes256 follow draft-blumenthal-aes-usm, as net-snmp's AES192/AES256 do; the Cisco
# ("Reeder") key extension is a different, non-standard protocol we do not offer yet.
_PRIV: dict[str, Any] = {
    "none": config.USM_PRIV_NONE,
    "des": config.USM_PRIV_CBC56_DES,
    "aes": config.USM_PRIV_CFB128_AES,
    "aes128": config.USM_PRIV_CFB128_AES,
    "aes192": config.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "aes256": config.USM_PRIV_CFB256_AES_BLUMENTHAL,
}


@dataclass(frozen=True, slots=True)
class Security:
    """What the engine needs to speak for one profile (secrets kept out of repr)."""

    mp_model: int  # 0: v1, 1: v2c, 3: v3
    level: str  # noAuthNoPriv | authNoPriv | authPriv
    auth_protocol: Any = None
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
    auth_name = profile.auth_protocol.strip().lower()
    priv_name = profile.priv_protocol.strip().lower()
    if auth_name not in _AUTH:
        raise ConfigError(f"{where}: unknown auth protocol {profile.auth_protocol!r}")
    if priv_name not in _PRIV:
        raise ConfigError(f"{where}: unknown privacy protocol {profile.priv_protocol!r}")
    if auth_name == "none":
        if priv_name != "none":
            raise ConfigError(f"{where}: privacy without authentication is not allowed")
        return Security(mp_model=3, level="noAuthNoPriv")
    # RFC 3414 2.6: pass phrases shorter than 8 characters are rejected by agents.
    if len(profile.auth_key) < 8:
        raise ConfigError(f"{where}: the auth key must be at least 8 characters")
    if priv_name == "none":
        return Security(mp_model=3, level="authNoPriv", auth_protocol=_AUTH[auth_name])
    if len(profile.priv_key) < 8:
        raise ConfigError(f"{where}: the privacy key must be at least 8 characters")
    return Security(
        mp_model=3,
        level="authPriv",
        auth_protocol=_AUTH[auth_name],
        priv_protocol=_PRIV[priv_name],
    )

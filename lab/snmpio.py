"""The lab's only pysnmp adapter: probe a device with a GET, send traps as a device.

Speaks plain Python values and our CredentialProfile; raises our errors. Nothing
else in ``lab/`` imports pysnmp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from pysnmp.entity.rfc3413 import ntforg
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_AUTH_NONE,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB256_AES,
    USM_PRIV_NONE,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
)
from pysnmp.hlapi.v3arch.asyncio.lcd import NotificationOriginatorLcdConfigurator
from pysnmp.proto.rfc1902 import Integer32, ObjectIdentifier, OctetString, TimeTicks

from shared.errors import LabError, SnmpAuthError, SnmpError, SnmpProtocolError, SnmpTimeout
from shared.model import CredentialProfile, SnmpVersion

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"

TRAPS = {
    "coldStart": "1.3.6.1.6.3.1.1.5.1",
    "linkDown": "1.3.6.1.6.3.1.1.5.3",
    "linkUp": "1.3.6.1.6.3.1.1.5.4",
}

_AUTH = {
    "none": USM_AUTH_NONE,
    "md5": USM_AUTH_HMAC96_MD5,
    "sha": USM_AUTH_HMAC96_SHA,
    "sha224": USM_AUTH_HMAC128_SHA224,
    "sha256": USM_AUTH_HMAC192_SHA256,
    "sha384": USM_AUTH_HMAC256_SHA384,
    "sha512": USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    "none": USM_PRIV_NONE,
    "des": USM_PRIV_CBC56_DES,
    "aes": USM_PRIV_CFB128_AES,
    "aes128": USM_PRIV_CFB128_AES,
    "aes192": USM_PRIV_CFB192_AES,
    "aes256": USM_PRIV_CFB256_AES,
}


_LCD = NotificationOriginatorLcdConfigurator()


@dataclass(frozen=True, slots=True)
class TrapSpec:
    """One notification to send as a device (``ifindex`` only for link traps)."""

    kind: str  # a key of TRAPS
    ifindex: int | None = None
    admin_up: bool = True
    oper_up: bool = True


def _auth_data(profile: CredentialProfile) -> CommunityData | UsmUserData:
    if profile.version is SnmpVersion.V3:
        return UsmUserData(
            profile.user,
            profile.auth_key or None,
            profile.priv_key or None,
            authProtocol=_AUTH[profile.auth_protocol],
            privProtocol=_PRIV[profile.priv_protocol],
        )
    return CommunityData(profile.community, mpModel=0 if profile.version is SnmpVersion.V1 else 1)


def _python_value(value: object) -> int | str:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return str(value)


def _new_engine(engine_id: str | None = None) -> SnmpEngine:
    if engine_id is None:
        return SnmpEngine()
    return SnmpEngine(snmpEngineID=OctetString(hexValue=engine_id))


class Session:
    """One SNMP engine reused for many GETs (cheaper than one per request)."""

    def __init__(self) -> None:
        self._engine = _new_engine()

    async def get(
        self,
        address: str,
        port: int,
        profile: CredentialProfile,
        oids: Sequence[str],
        timeout: float = 1.0,
        retries: int = 0,
    ) -> dict[str, int | str]:
        return await _get(self._engine, address, port, profile, oids, timeout, retries)

    def close(self) -> None:
        self._engine.close_dispatcher()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


async def _get(
    engine: SnmpEngine,
    address: str,
    port: int,
    profile: CredentialProfile,
    oids: Sequence[str],
    timeout: float = 1.0,
    retries: int = 0,
) -> dict[str, int | str]:
    """GET ``oids`` (numeric strings); returns OID -> int or str."""
    target = await UdpTransportTarget.create((address, port), timeout=timeout, retries=retries)
    err_ind, err_status, err_index, var_binds = await get_cmd(
        engine,
        _auth_data(profile),
        target,
        ContextData(),
        *(ObjectType(ObjectIdentity(oid)) for oid in oids),
        lookupMib=False,
    )
    if err_ind:
        text = str(err_ind)
        if "timeout" in text.lower():
            raise SnmpTimeout(f"{address}:{port} did not answer")
        if any(w in text.lower() for w in ("auth", "digest", "unknown", "usm", "decrypt")):
            raise SnmpAuthError(f"{address}:{port} rejected the credentials: {text}")
        raise SnmpError(f"{address}:{port}: {text}")
    if err_status:
        raise SnmpProtocolError(f"{address}:{port}: {err_status.prettyPrint()} at {err_index}")
    return {str(vb[0]): _python_value(vb[1]) for vb in var_binds}


def _trap_var_binds(spec: TrapSpec, uptime: int) -> list[tuple[str, object]]:
    if spec.kind not in TRAPS:
        raise LabError(f"unknown trap {spec.kind!r} (expected one of {', '.join(TRAPS)})")
    binds: list[tuple[str, object]] = [
        (SYS_UPTIME, TimeTicks(uptime)),
        (SNMP_TRAP_OID, ObjectIdentifier(TRAPS[spec.kind])),
    ]
    if spec.kind != "coldStart":
        if spec.ifindex is None:
            raise LabError(f"{spec.kind} needs an ifIndex")
        i = spec.ifindex
        binds += [
            (f"{IF_INDEX}.{i}", Integer32(i)),
            (f"{IF_ADMIN}.{i}", Integer32(1 if spec.admin_up else 2)),
            (f"{IF_OPER}.{i}", Integer32(1 if spec.oper_up else 2)),
        ]
    return binds


def _set_engine_clock(engine: SnmpEngine, boots: int, started: float) -> None:
    """snmpEngineBoots and the start of snmpEngineTime (pysnmp counts from a wall time)."""
    mib = engine.get_mib_builder()
    boots_i, time_i = mib.import_symbols(
        "__SNMP-FRAMEWORK-MIB", "snmpEngineBoots", "snmpEngineTime"
    )
    boots_i.syntax = boots_i.syntax.clone(boots)
    time_i.syntax = time_i.syntax.clone(int(started))


async def send_trap(
    source: str,
    engine_id: str,
    profile: CredentialProfile,
    target: tuple[str, int],
    spec: TrapSpec,
    uptime: int = 0,
    clock: tuple[int, float] | None = None,
) -> None:
    """Send one trap from ``source`` (a device's address) to ``target``.

    The sending engine carries the device's engine ID, so a v3 trap is authored
    by the same authoritative engine the device answers GETs with; ``clock`` is that
    engine's (boots, wall time of its start): a real device's boots and time only go
    forward, and receivers refuse v3 traps whose clock goes back (RFC 3414 3.2.7).
    """
    engine = _new_engine(engine_id)
    if clock is not None:
        _set_engine_clock(engine, *clock)
    try:
        transport = await UdpTransportTarget.create(target, timeout=1.0, retries=0)
        # Bind the sender to the device's own address so the trap's source is the device.
        transport.set_local_address((source, 0))
        # Below hlapi's send_notification on purpose: it resolves varbinds through
        # the MIBs, which costs ~1 s per fresh engine; ours are typed and numeric.
        ctx = ContextData()
        notify_name = _LCD.configure(
            engine, _auth_data(profile), transport, "trap", ctx.contextName
        )
        ntforg.NotificationOriginator().send_varbinds(
            engine, notify_name, ctx.contextEngineId, ctx.contextName, _trap_var_binds(spec, uptime)
        )
        # The trap leaves through the dispatcher: give it a loop turn or two before closing.
        for _ in range(3):
            await asyncio.sleep(0.01)
    except OSError as exc:
        raise LabError(f"cannot send a trap from {source} to {target}: {exc}") from exc
    finally:
        engine.close_dispatcher()

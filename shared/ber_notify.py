"""Received SNMP notifications: v1 Trap-PDUs, SNMPv2-Traps and InformRequests, decoded.

One job: a notification as one SnmpMessage whose varbinds are always in the v2 form. A v1
Trap-PDU is converted as RFC 3584 3.1 says (snmpTrapOID.0 from enterprise, generic-trap and
specific-trap; snmpTrapAddress.0 and snmpTrapEnterprise.0 appended), and sysUpTime.0 and
snmpTrapOID.0 are found even where an NE does not put them first. The same decoder reads a
v2c datagram and the PDU a v3 ScopedPDU carries. Import it through ``shared.ber``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from shared.ber_decode import (
    MAX_VARBINDS,
    _expect,
    _field,
    _guarded,
    _header,
    _ipaddr,
    _message_header,
    _oid,
    _pdu_body,
    _plain,
    _ranged,
    _typed,
    _varbinds,
)
from shared.errors import BerDecodeError
from shared.smi import (
    GENERIC_TRAP,
    MAX_OID_ARCS,
    PDU_INFORM,
    PDU_TRAP_V1,
    PDU_TRAP_V2,
    SNMP_TRAP_ADDRESS_0,
    SNMP_TRAP_ENTERPRISE_0,
    SNMP_TRAP_OID_0,
    SNMP_TRAPS,
    SPECIFIC_TRAP,
    SYS_UPTIME_0,
    TAG_IPADDRESS,
    TAG_OID,
    TAG_TIMETICKS,
    TIMETICKS,
    VERSION_V1,
    VERSION_V2C,
    VERSION_V3,
    ExceptionValue,
    IpAddress,
    Oid,
    ResponseValue,
    TimeTicks,
    Value,
    VarBind,
)

_NOTIFICATION_PDUS: Final = frozenset({PDU_TRAP_V1, PDU_INFORM, PDU_TRAP_V2})


@dataclass(frozen=True, slots=True)
class SnmpMessage:
    """One decoded v1/v2c notification, varbinds always in the v2 form (RFC 3584 for v1)."""

    version: int
    community: bytes = field(repr=False)
    pdu_type: int
    request_id: int
    varbinds: tuple[VarBind, ...]
    trap_oid: Oid
    uptime: int | None
    agent_address: str | None = None  # v1 Trap-PDU only
    # The undecoded varbind list, echoed verbatim in an Inform's Response so types survive.
    raw_varbinds: bytes = field(default=b"", repr=False, compare=False)


def _notification_value(data: bytes, tag: int, start: int, stop: int) -> ResponseValue:
    # RFC 3416 defines the exceptions for Responses only; in a notification they mean "no
    # value" as NULL does.
    value = _plain(data, tag, start, stop)
    return None if isinstance(value, ExceptionValue) else value


def _typed_notification_value(data: bytes, tag: int, start: int, stop: int) -> ResponseValue:
    value = _typed(data, tag, start, stop)
    return None if isinstance(value, ExceptionValue) else value


def _is_ticks(value: Value) -> bool:
    # sysUpTime.0 is TimeTicks; a plain decode cannot tell it from an INTEGER, its range can.
    return isinstance(value, int) and 0 <= value <= TIMETICKS.high


def _decode_message(data: bytes, *, typed: bool = False) -> SnmpMessage:
    version, community, _, pdu_type, p_start, p_stop = _message_header(data)
    if pdu_type not in _NOTIFICATION_PDUS:
        raise BerDecodeError(f"not a notification PDU: 0x{pdu_type:02x}")
    if pdu_type == PDU_TRAP_V1:
        if version != VERSION_V1:
            raise BerDecodeError("Trap-PDU in a v2c message")
        return _decode_v1_trap(data, community, p_start, p_stop, typed)
    if version != VERSION_V2C:
        raise BerDecodeError("v2 PDU in a v1 message")
    return _notification(data, version, community, pdu_type, p_start, p_stop, typed)


def _notification(
    data: bytes, version: int, community: bytes, pdu_type: int, start: int, stop: int, typed: bool
) -> SnmpMessage:
    """An SNMPv2-Trap or Inform PDU whose content is data[start:stop]."""
    value = _typed_notification_value if typed else _notification_value
    request_id, _, _, found, vbl_pos = _pdu_body(data, start, stop, pdu_type, value)
    varbinds: list[VarBind] = found  # type: ignore[assignment]  # exceptions mapped to None

    trap_oid: Oid | None = None
    uptime: int | None = None
    # RFC 3416 puts sysUpTime.0 and snmpTrapOID.0 first; scan in case an NE does not.
    if len(varbinds) >= 2 and varbinds[1][0] == SNMP_TRAP_OID_0:
        candidate = varbinds[1][1]
        if isinstance(candidate, tuple):
            trap_oid = candidate
        first = varbinds[0]
        if first[0] == SYS_UPTIME_0 and _is_ticks(first[1]):
            uptime = first[1]  # type: ignore[assignment]
    else:
        for oid, v in varbinds:
            if oid == SNMP_TRAP_OID_0 and isinstance(v, tuple):
                trap_oid = v
            elif oid == SYS_UPTIME_0 and _is_ticks(v):
                uptime = v  # type: ignore[assignment]
    if trap_oid is None:
        raise BerDecodeError("notification without snmpTrapOID.0")
    return SnmpMessage(
        version=version,
        community=community,
        pdu_type=pdu_type,
        request_id=request_id,
        varbinds=tuple(varbinds),
        trap_oid=trap_oid,
        uptime=uptime,
        raw_varbinds=data[vbl_pos:stop],
    )


def _decode_notification_pdu(
    data: bytes, pos: int, end: int, *, version: int = VERSION_V3, typed: bool = False
) -> SnmpMessage:
    pdu_type, p_start, p_stop = _header(data, pos, end)
    if p_stop != end:
        raise BerDecodeError("trailing data after PDU")
    if pdu_type not in (PDU_TRAP_V2, PDU_INFORM):
        raise BerDecodeError(f"not an SNMPv2-Trap/Inform PDU: 0x{pdu_type:02x}")
    return _notification(data, version, b"", pdu_type, p_start, p_stop, typed)


decode_notification_pdu = _guarded("PDU")(_decode_notification_pdu)
decode_notification_pdu.__doc__ = """Decode the SNMPv2-Trap or InformRequest PDU that fills
data[pos:end] (what a v3 ScopedPDU carries), with the checks and the sysUpTime.0 /
snmpTrapOID.0 reading of decode_message; ``version`` and an empty community are recorded."""


decode_message = _guarded("message")(_decode_message)
decode_message.__doc__ = "Decode a whole v1/v2c datagram carrying a Trap, v2 Trap or Inform."


def v1_trap_oid(enterprise: Oid, generic: int, specific: int) -> Oid:
    """snmpTrapOID for a v1 trap, RFC 3584 section 3.1 (3)."""
    if 0 <= generic <= 5:
        return (*SNMP_TRAPS, generic + 1)
    if generic != 6:
        raise BerDecodeError("generic-trap out of range 0..6")
    if len(enterprise) + 2 > MAX_OID_ARCS:
        raise BerDecodeError("enterprise too long for snmpTrapOID (128 arcs)")
    return (*enterprise, 0, specific)


def _decode_v1_trap(
    data: bytes, community: bytes, pos: int, end: int, typed: bool = False
) -> SnmpMessage:
    e_start, e_stop = _expect(data, pos, end, TAG_OID)
    enterprise = _oid(data, e_start, e_stop)
    a_start, a_stop = _expect(data, e_stop, end, TAG_IPADDRESS)
    agent_address = _ipaddr(data, a_start, a_stop)
    generic, pos = _field(data, a_stop, end, GENERIC_TRAP)
    specific, pos = _field(data, pos, end, SPECIFIC_TRAP)
    t_start, t_stop = _expect(data, pos, end, TAG_TIMETICKS)
    timestamp = _ranged(data, t_start, t_stop, TIMETICKS)
    value = _typed_notification_value if typed else _notification_value
    found, vbl_stop = _varbinds(data, t_stop, end, value)
    varbinds: list[VarBind] = found  # type: ignore[assignment]  # exceptions mapped to None
    if vbl_stop != end:
        raise BerDecodeError("trailing data in Trap-PDU")
    trap_oid = v1_trap_oid(enterprise, generic, specific)

    converted: list[VarBind] = [
        (SYS_UPTIME_0, TimeTicks(timestamp) if typed else timestamp),
        (SNMP_TRAP_OID_0, trap_oid),
    ]
    converted.extend(varbinds)
    present = {oid for oid, _ in varbinds}
    # RFC 3584 3.1 (4) also appends snmpTrapCommunity.0; we leave it out on purpose because
    # notifications flow into logs, alarms and the database, where a community must never go.
    if SNMP_TRAP_ADDRESS_0 not in present:
        address: str = IpAddress(agent_address) if typed else agent_address
        converted.append((SNMP_TRAP_ADDRESS_0, address))
    if SNMP_TRAP_ENTERPRISE_0 not in present:
        converted.append((SNMP_TRAP_ENTERPRISE_0, enterprise))
    if len(converted) > MAX_VARBINDS:
        raise BerDecodeError("too many varbinds")
    return SnmpMessage(
        version=VERSION_V1,
        community=community,
        pdu_type=PDU_TRAP_V1,
        request_id=0,
        varbinds=tuple(converted),
        trap_oid=trap_oid,
        uptime=timestamp,
        agent_address=agent_address,
    )

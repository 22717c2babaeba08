"""A small, strict BER codec for the SNMP v1/v2c messages of the trap receiver and the poller.

Notifications (received) and their Inform acknowledgements; GetRequest / GetNextRequest /
GetBulkRequest (sent) and their Response-PDUs (received); any other PDU of the RFC 3416 shape
through ``decode_pdu`` / ``encode_pdu``. Both receive paths are hot (traps, and every poll
answer), so it decodes one fixed schema with flat loops instead of a generic recursive ASN.1
engine: nothing recurses, so nesting is bounded by the schema (message > PDU > varbind list >
varbind > value), and a constructed value where a primitive is expected is rejected.

Every malformed input raises BerDecodeError, and so does every value outside its SMI range
(``shared.smi``); what is accepted and refused, and why, is in ``shared.ber_decode``.

``typed=True`` returns the SMI classes of ``shared.smi`` (Counter32(5), not 5) so a decoded
message can be encoded again; the default plain values are what the hot paths use. The
``_decode_*`` functions are the decoders without the ``_guarded`` safety net, for fuzz tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from shared.ber_decode import MAX_INT_OCTETS as MAX_INT_OCTETS
from shared.ber_decode import MAX_VARBINDS as MAX_VARBINDS
from shared.ber_decode import _expect as _expect
from shared.ber_decode import _field as _field
from shared.ber_decode import _guarded as _guarded
from shared.ber_decode import _header as _header
from shared.ber_decode import _int as _int
from shared.ber_decode import _ipaddr as _ipaddr
from shared.ber_decode import _oid as _oid
from shared.ber_decode import _oid_cache as _oid_cache
from shared.ber_decode import _plain as _plain
from shared.ber_decode import _ranged as _ranged
from shared.ber_decode import _typed as _typed
from shared.ber_decode import _ValueDecoder, _varbinds
from shared.ber_encode import _enc_int as _enc_int
from shared.ber_encode import _enc_oid as _enc_oid
from shared.ber_encode import _len as _len
from shared.ber_encode import _tlv as _tlv
from shared.ber_encode import (
    encode_get,
    encode_getbulk,
    encode_getnext,
    encode_message,
    encode_notification,
    encode_pdu,
    encode_pdu_message,
    encode_request,
    encode_request_pdu,
    encode_response,
    encode_response_pdu,
    encode_v1_trap,
    encode_value,
    encode_varbinds,
)
from shared.errors import BerDecodeError
from shared.smi import (
    END_OF_MIB_VIEW,
    ERROR_INDEX,
    ERROR_STATUS,
    GENERIC_TRAP,
    MAX_OID_ARCS,
    MAX_REPETITIONS,
    MSG_ID,
    MSG_MAX_SIZE,
    MSG_SECURITY_MODEL,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NON_REPEATERS,
    PDU_GET,
    PDU_GETBULK,
    PDU_GETNEXT,
    PDU_INFORM,
    PDU_NAMES,
    PDU_REPORT,
    PDU_RESPONSE,
    PDU_SET,
    PDU_TRAP_V1,
    PDU_TRAP_V2,
    REQUEST_ID,
    SPECIFIC_TRAP,
    TIMETICKS,
    V1_PDUS,
    V2_SHAPED_PDUS,
    VERSION_V1,
    VERSION_V2C,
    VERSION_V3,
    Counter32,
    Counter64,
    ExceptionValue,
    Gauge32,
    IpAddress,
    Oid,
    Opaque,
    ResponseValue,
    ResponseVarBind,
    TimeTicks,
    Value,
    VarBind,
)

__all__ = [
    "END_OF_MIB_VIEW",
    "MAX_OID_ARCS",
    "NO_SUCH_INSTANCE",
    "NO_SUCH_OBJECT",
    "PDU_GET",
    "PDU_GETBULK",
    "PDU_GETNEXT",
    "PDU_INFORM",
    "PDU_REPORT",
    "PDU_RESPONSE",
    "PDU_SET",
    "PDU_TRAP_V1",
    "PDU_TRAP_V2",
    "VERSION_V1",
    "VERSION_V2C",
    "VERSION_V3",
    "Counter32",
    "Counter64",
    "ExceptionValue",
    "Gauge32",
    "IpAddress",
    "Oid",
    "Opaque",
    "ResponseValue",
    "ResponseVarBind",
    "TimeTicks",
    "Value",
    "VarBind",
    "encode_get",
    "encode_getbulk",
    "encode_getnext",
    "encode_message",
    "encode_notification",
    "encode_pdu",
    "encode_pdu_message",
    "encode_request",
    "encode_request_pdu",
    "encode_response",
    "encode_response_pdu",
    "encode_v1_trap",
    "encode_value",
    "encode_varbinds",
]

MAX_DEPTH: Final = 8

SYS_UPTIME_0: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ENTERPRISE_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0)
SNMP_TRAP_ADDRESS_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)
SNMP_TRAPS: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 5)

_SEQ: Final = 0x30
_INT: Final = 0x02
_OCTETS: Final = 0x04
_OID: Final = 0x06
_IPADDR: Final = 0x40
_TIMETICKS: Final = 0x43
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


@dataclass(frozen=True, slots=True)
class Response:
    """One decoded v1/v2c Response-PDU."""

    version: int
    community: bytes = field(repr=False)
    request_id: int
    error_status: int
    error_index: int
    varbinds: tuple[ResponseVarBind, ...]


@dataclass(frozen=True, slots=True)
class V3Header:
    """What the receiver needs from a v3 message before handing it to the USM."""

    msg_id: int
    flags: int
    security_model: int
    engine_id: bytes
    user: bytes

    @property
    def reportable(self) -> bool:
        return bool(self.flags & 0x04)

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & 0x01)


@dataclass(frozen=True, slots=True)
class ResponsePdu:
    """A PDU of the RFC 3416 shape without its message wrapper (what a v3 ScopedPDU carries):
    a Response or Report from ``decode_response_pdu``, any of them from ``decode_pdu``. For a
    GetBulkRequest, error_status / error_index hold non-repeaters / max-repetitions."""

    pdu_type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: tuple[ResponseVarBind, ...]


Pdu = ResponsePdu


@dataclass(frozen=True, slots=True)
class PduMessage:
    """A v1/v2c message and its PDU of the RFC 3416 shape (``decode_pdu_message``)."""

    version: int
    community: bytes = field(repr=False)
    pdu: ResponsePdu


# --------------------------------------------------------------------------- messages


def _message_header(data: bytes) -> tuple[int, bytes, int, int, int, int]:
    """Check the v1/v2c message wrapper that must fill data exactly; return its version,
    community, and the PDU's position, tag and content bounds."""
    end = len(data)
    m_start, m_stop = _expect(data, 0, end, _SEQ)
    if m_stop != end:
        raise BerDecodeError("trailing data after message")
    v_start, v_stop = _expect(data, m_start, m_stop, _INT)
    version = _int(data, v_start, v_stop)
    if version not in (VERSION_V1, VERSION_V2C):
        raise BerDecodeError(f"unsupported version {version}")
    c_start, c_stop = _expect(data, v_stop, m_stop, _OCTETS)
    pdu_type, p_start, p_stop = _header(data, c_stop, m_stop)
    if p_stop != m_stop:
        raise BerDecodeError("trailing data after PDU")
    return version, data[c_start:c_stop], c_stop, pdu_type, p_start, p_stop


def _pdu_body(
    data: bytes, start: int, stop: int, pdu_type: int, value: _ValueDecoder
) -> tuple[int, int, int, list[ResponseVarBind], int]:
    """Decode a PDU's content data[start:stop], which it must fill: request-id, error-status
    (non-repeaters), error-index (max-repetitions), the varbinds, and where they start."""
    bulk = pdu_type == PDU_GETBULK
    request_id, pos = _field(data, start, stop, REQUEST_ID)
    error_status, pos = _field(data, pos, stop, NON_REPEATERS if bulk else ERROR_STATUS)
    error_index, vbl_pos = _field(data, pos, stop, MAX_REPETITIONS if bulk else ERROR_INDEX)
    varbinds, vbl_stop = _varbinds(data, vbl_pos, stop, value)
    if vbl_stop != stop:
        raise BerDecodeError("trailing data in PDU")
    return request_id, error_status, error_index, varbinds, vbl_pos


def peek_version(data: bytes) -> int | None:
    """The message version from the first octets, or None if they do not look like SNMP."""
    try:
        _, start, stop = _header(data, 0, len(data))
        tag, v_start, v_stop = _header(data, start, stop)
    except BerDecodeError:
        return None
    if data[0] != _SEQ or tag != _INT or v_stop - v_start != 1:
        return None
    return data[v_start]


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


def _decode_response(data: bytes, *, typed: bool = False) -> Response:
    version, community, _, pdu_type, p_start, p_stop = _message_header(data)
    if pdu_type != PDU_RESPONSE:
        raise BerDecodeError(f"not a Response-PDU: 0x{pdu_type:02x}")
    request_id, error_status, error_index, varbinds, _ = _pdu_body(
        data, p_start, p_stop, pdu_type, _typed if typed else _plain
    )
    return Response(
        version=version,
        community=community,
        request_id=request_id,
        error_status=error_status,
        error_index=error_index,
        varbinds=tuple(varbinds),
    )


decode_response = _guarded("response")(_decode_response)
decode_response.__doc__ = "Decode a whole v1/v2c datagram carrying a Response-PDU."


def _decode_pdu(
    data: bytes,
    pos: int,
    end: int,
    *,
    typed: bool = False,
    allowed: frozenset[int] = V2_SHAPED_PDUS,
    what: str = "a PDU of the RFC 3416 shape",
) -> ResponsePdu:
    pdu_type, p_start, p_stop = _header(data, pos, end)
    if p_stop != end:
        raise BerDecodeError("trailing data after PDU")
    if pdu_type not in allowed:
        raise BerDecodeError(f"not {what}: 0x{pdu_type:02x}")
    request_id, error_status, error_index, varbinds, _ = _pdu_body(
        data, p_start, p_stop, pdu_type, _typed if typed else _plain
    )
    return ResponsePdu(pdu_type, request_id, error_status, error_index, tuple(varbinds))


_RESPONSE_OR_REPORT: Final = frozenset({PDU_RESPONSE, PDU_REPORT})


def _decode_response_pdu(data: bytes, pos: int, end: int, *, typed: bool = False) -> ResponsePdu:
    return _decode_pdu(
        data, pos, end, typed=typed, allowed=_RESPONSE_OR_REPORT, what="a Response/Report-PDU"
    )


decode_pdu = _guarded("PDU")(_decode_pdu)
decode_pdu.__doc__ = "Decode any PDU of the RFC 3416 shape that fills data[pos:end] exactly."
decode_response_pdu = _guarded("PDU")(_decode_response_pdu)
decode_response_pdu.__doc__ = "Decode the Response-PDU or Report-PDU that fills data[pos:end]."


def _decode_pdu_message(data: bytes, *, typed: bool = False) -> PduMessage:
    version, community, pdu_pos, pdu_type, _, _ = _message_header(data)
    if version == VERSION_V1 and pdu_type not in V1_PDUS:
        name = PDU_NAMES.get(pdu_type, f"PDU 0x{pdu_type:02x}")
        raise BerDecodeError(f"{name} in a v1 message")
    return PduMessage(version, community, _decode_pdu(data, pdu_pos, len(data), typed=typed))


decode_pdu_message = _guarded("message")(_decode_pdu_message)
decode_pdu_message.__doc__ = "Decode a whole v1/v2c message whose PDU has the RFC 3416 shape."


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
    e_start, e_stop = _expect(data, pos, end, _OID)
    enterprise = _oid(data, e_start, e_stop)
    a_start, a_stop = _expect(data, e_stop, end, _IPADDR)
    agent_address = _ipaddr(data, a_start, a_stop)
    generic, pos = _field(data, a_stop, end, GENERIC_TRAP)
    specific, pos = _field(data, pos, end, SPECIFIC_TRAP)
    t_start, t_stop = _expect(data, pos, end, _TIMETICKS)
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


def _decode_v3_header(data: bytes) -> V3Header:
    end = len(data)
    m_start, m_stop = _expect(data, 0, end, _SEQ)
    v_start, v_stop = _expect(data, m_start, m_stop, _INT)
    if _int(data, v_start, v_stop) != VERSION_V3:
        raise BerDecodeError("not a v3 message")
    g_start, g_stop = _expect(data, v_stop, m_stop, _SEQ)
    msg_id, pos = _field(data, g_start, g_stop, MSG_ID)
    _, pos = _field(data, pos, g_stop, MSG_MAX_SIZE)
    f_start, f_stop = _expect(data, pos, g_stop, _OCTETS)
    if f_stop - f_start != 1:
        raise BerDecodeError("msgFlags must be one octet")
    flags = data[f_start]
    security_model, _ = _field(data, f_stop, g_stop, MSG_SECURITY_MODEL)
    sp_start, sp_stop = _expect(data, g_stop, m_stop, _OCTETS)
    u_start, u_stop = _expect(data, sp_start, sp_stop, _SEQ)
    e_start, e_stop = _expect(data, u_start, u_stop, _OCTETS)
    _b_start, b_stop = _expect(data, e_stop, u_stop, _INT)
    _t_start, t_stop = _expect(data, b_stop, u_stop, _INT)
    n_start, n_stop = _expect(data, t_stop, u_stop, _OCTETS)
    return V3Header(
        msg_id=msg_id,
        flags=flags,
        security_model=security_model,
        engine_id=data[e_start:e_stop],
        user=data[n_start:n_stop],
    )


decode_v3_header = _guarded("v3 header")(_decode_v3_header)
decode_v3_header.__doc__ = "Read the v3 header fields (RFC 3412 / 3414), payload untouched."

"""BER encoding of SNMP v1/v2c messages and PDUs (import it from ``shared.ber``).

Every value is checked against its SMI range (``shared.smi``) before it is written, so we never
send what our own decoder, or an agent's, would have to refuse: an out-of-range value, an OID
that X.690 cannot encode, an IpAddress that is not four octets. A bad value is a programming or
configuration error here, so it raises ValueError, with a message that names the type and never
the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.smi import (
    ERROR_INDEX,
    ERROR_STATUS,
    GENERIC_TRAP,
    INTEGER_TYPES,
    MAX_OCTETS,
    MAX_REPETITIONS,
    NON_REPEATERS,
    PDU_GET,
    PDU_GETBULK,
    PDU_GETNEXT,
    PDU_INFORM,
    PDU_NAMES,
    PDU_REPORT,
    PDU_RESPONSE,
    PDU_TRAP_V1,
    PDU_TRAP_V2,
    REQUEST_ID,
    SNMP_TRAP_OID_0,
    SPECIFIC_TRAP,
    SYS_UPTIME_0,
    TAG_COUNTER32,
    TAG_COUNTER64,
    TAG_GAUGE32,
    TAG_INTEGER,
    TAG_IPADDRESS,
    TAG_OCTETS,
    TAG_OID,
    TAG_OPAQUE,
    TAG_SEQUENCE,
    TAG_TIMETICKS,
    TIMETICKS,
    V1_PDUS,
    V2_SHAPED_PDUS,
    VERSION_V1,
    VERSION_V2C,
    Counter32,
    Counter64,
    ExceptionValue,
    Gauge32,
    IntegerType,
    IpAddress,
    Oid,
    Opaque,
    ResponseValue,
    ResponseVarBind,
    TimeTicks,
    VarBind,
    check_oid,
)

if TYPE_CHECKING:
    from shared.ber_notify import SnmpMessage

_NULL_VALUE = b"\x05\x00"
_REQUEST_PDUS = frozenset({PDU_GET, PDU_GETNEXT, PDU_GETBULK})


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _len(len(body)) + body


def _checked(kind: IntegerType, value: int) -> int:
    if not kind.low <= value <= kind.high:
        raise ValueError(kind.out_of_range(value))
    return value


def _enc_int(tag: int, value: int, unsigned: bool = False) -> bytes:
    """An INTEGER-encoded value (two's complement, minimal octets) with its tag; a value tag of
    an SMI integer type is range-checked (``unsigned`` is implied by the tag and kept for
    callers that pass it)."""
    kind = INTEGER_TYPES.get(tag)
    if kind is not None:
        _checked(kind, value)
    elif unsigned and value < 0:
        raise ValueError("unsigned field with a negative value")
    # (v + (v < 0)).bit_length() // 8 + 1 octets hold v with its sign bit: 127 -> 1, 128 -> 2,
    # -128 -> 1, -129 -> 2, and an unsigned 2^32-1 -> 5 (the 0x00 that keeps it positive).
    body = value.to_bytes((value + (value < 0)).bit_length() // 8 + 1, "big", signed=True)
    return _tlv(tag, body)


# Encoded OIDs by value: requests ask for the same columns and rows every cycle, so this skips
# the checks and the per-arc loop. Only valid OIDs go in; bounded by clearing when full.
_oid_cache: dict[Oid, bytes] = {}
_OID_CACHE_MAX = 8192


def _enc_oid(oid: Oid) -> bytes:
    if type(oid) is not tuple:
        oid = tuple(oid)  # a list, say: hashable for the cache
    cached = _oid_cache.get(oid)
    if cached is not None:
        return cached
    problem = check_oid(oid)
    if problem is not None:
        raise ValueError(f"cannot encode OID: {problem}")
    encoded = _tlv(TAG_OID, _subids(oid))
    if len(_oid_cache) >= _OID_CACHE_MAX:
        _oid_cache.clear()
    _oid_cache[oid] = encoded
    return encoded


def _subids(oid: Oid) -> bytes:
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _enc_octets(tag: int, value: bytes) -> bytes:
    if len(value) > MAX_OCTETS:
        raise ValueError("OCTET STRING longer than 65535 octets")
    return _tlv(tag, value)


def _enc_ipaddress(value: str) -> bytes:
    parts = value.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        raise ValueError("IpAddress must be a dotted quad of four octets")
    return _tlv(TAG_IPADDRESS, bytes(int(p) for p in parts))


def encode_value(value: ResponseValue) -> bytes:
    """BER for one varbind value; the typed classes of ``shared.smi`` select the SMI type."""
    if value is None:
        return _NULL_VALUE
    if isinstance(value, ExceptionValue):
        return bytes((value.value, 0))
    if isinstance(value, bool):
        raise ValueError("bool is not an SMI type")
    if isinstance(value, int):
        if isinstance(value, Counter32):
            return _enc_int(TAG_COUNTER32, value)
        if isinstance(value, Gauge32):
            return _enc_int(TAG_GAUGE32, value)
        if isinstance(value, TimeTicks):
            return _enc_int(TAG_TIMETICKS, value)
        if isinstance(value, Counter64):
            return _enc_int(TAG_COUNTER64, value)
        return _enc_int(TAG_INTEGER, value)
    if isinstance(value, Opaque):
        return _enc_octets(TAG_OPAQUE, bytes(value))
    if isinstance(value, bytes):
        return _enc_octets(TAG_OCTETS, value)
    if isinstance(value, IpAddress):
        return _enc_ipaddress(value)
    if isinstance(value, str):
        return _enc_octets(TAG_OCTETS, value.encode())
    if isinstance(value, tuple):
        return _enc_oid(value)
    raise ValueError(f"cannot encode {type(value).__name__}")


def encode_varbinds(
    varbinds: Sequence[VarBind] | Sequence[ResponseVarBind],
) -> bytes:
    return _tlv(
        TAG_SEQUENCE,
        b"".join(_tlv(TAG_SEQUENCE, _enc_oid(o) + encode_value(v)) for o, v in varbinds),
    )


def encode_message(version: int, community: bytes, pdu: bytes) -> bytes:
    """The v1/v2c message wrapper (RFC 1157 / RFC 1901) around an encoded PDU."""
    if version not in (VERSION_V1, VERSION_V2C):
        raise ValueError(f"unsupported version {version}")
    if len(community) > MAX_OCTETS:
        raise ValueError("community longer than 65535 octets")
    return _tlv(TAG_SEQUENCE, _enc_int(TAG_INTEGER, version) + _tlv(TAG_OCTETS, community) + pdu)


def encode_pdu(
    pdu_type: int,
    request_id: int,
    varbinds: Sequence[VarBind] | Sequence[ResponseVarBind],
    *,
    error_status: int = 0,
    error_index: int = 0,
) -> bytes:
    """Any PDU of the RFC 3416 PDU / BulkPDU shape (every PDU but the v1 Trap-PDU).

    For a GetBulkRequest, ``error_status`` and ``error_index`` are non-repeaters and
    max-repetitions, which share their positions (RFC 3416 section 3).
    """
    if pdu_type not in V2_SHAPED_PDUS:
        raise ValueError(f"not a PDU of the RFC 3416 shape: 0x{pdu_type:02x}")
    return _pdu(pdu_type, request_id, error_status, error_index, encode_varbinds(varbinds))


def _pdu(pdu_type: int, request_id: int, second: int, third: int, varbind_list: bytes) -> bytes:
    """The RFC 3416 PDU / BulkPDU layout around an encoded varbind list: request-id, then
    error-status and error-index (a GetBulk's non-repeaters and max-repetitions), each
    checked against its range."""
    bulk = pdu_type == PDU_GETBULK
    _checked(REQUEST_ID, request_id)
    _checked(NON_REPEATERS if bulk else ERROR_STATUS, second)
    _checked(MAX_REPETITIONS if bulk else ERROR_INDEX, third)
    body = (
        _enc_int(TAG_INTEGER, request_id)
        + _enc_int(TAG_INTEGER, second)
        + _enc_int(TAG_INTEGER, third)
        + varbind_list
    )
    return _tlv(pdu_type, body)


def encode_pdu_message(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    varbinds: Sequence[VarBind] | Sequence[ResponseVarBind],
    *,
    error_status: int = 0,
    error_index: int = 0,
) -> bytes:
    """A whole v1/v2c message carrying one PDU of the RFC 3416 shape (see ``encode_pdu``)."""
    if version == VERSION_V1 and pdu_type not in V1_PDUS:
        raise ValueError(f"{PDU_NAMES.get(pdu_type, hex(pdu_type))} needs SNMPv2c")
    pdu = encode_pdu(
        pdu_type, request_id, varbinds, error_status=error_status, error_index=error_index
    )
    return encode_message(version, community, pdu)


def encode_notification(
    community: bytes,
    trap_oid: Oid,
    varbinds: list[VarBind] | tuple[VarBind, ...] = (),
    *,
    uptime: int = 0,
    request_id: int = 0,
    inform: bool = False,
) -> bytes:
    """A v2c Trap (or Inform) message; sysUpTime.0 and snmpTrapOID.0 are prepended."""
    full: list[VarBind] = [(SYS_UPTIME_0, TimeTicks(uptime)), (SNMP_TRAP_OID_0, trap_oid)]
    full.extend(varbinds)
    pdu = encode_pdu(PDU_INFORM if inform else PDU_TRAP_V2, request_id, full)
    return encode_message(VERSION_V2C, community, pdu)


def encode_v1_trap(
    community: bytes,
    enterprise: Oid,
    agent_address: str,
    generic: int,
    specific: int,
    timestamp: int,
    varbinds: list[VarBind] | tuple[VarBind, ...] = (),
) -> bytes:
    """A v1 Trap-PDU message (RFC 1157)."""
    pdu_body = (
        _enc_oid(enterprise)
        + _enc_ipaddress(agent_address)
        + _enc_int(TAG_INTEGER, _checked(GENERIC_TRAP, generic))
        + _enc_int(TAG_INTEGER, _checked(SPECIFIC_TRAP, specific))
        + _enc_int(TAG_TIMETICKS, _checked(TIMETICKS, timestamp))
        + encode_varbinds(varbinds)
    )
    return encode_message(VERSION_V1, community, _tlv(PDU_TRAP_V1, pdu_body))


def encode_response(message: SnmpMessage) -> bytes:
    """The Response-PDU acknowledging an Inform: same request-id, community and varbinds."""
    if message.pdu_type != PDU_INFORM:
        raise ValueError("only an Inform is answered")
    return encode_message(message.version, message.community, encode_ack_pdu(message))


def encode_ack_pdu(notification: SnmpMessage) -> bytes:
    """The Response-PDU alone acknowledging an Inform (v2c, or in a v3 ScopedPDU): its
    request-id and its varbinds, verbatim when the undecoded list was kept."""
    varbind_list = notification.raw_varbinds or encode_varbinds(notification.varbinds)
    return _pdu(PDU_RESPONSE, notification.request_id, 0, 0, varbind_list)


def encode_report_pdu(request_id: int, varbinds: Sequence[VarBind]) -> bytes:
    """A Report-PDU (RFC 3412 7.1.3 / RFC 3414 3.2: the usmStats counter that failed)."""
    return _pdu(PDU_REPORT, request_id, 0, 0, encode_varbinds(varbinds))


def encode_request_pdu(
    pdu_type: int,
    request_id: int,
    oids: Sequence[Oid],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """The PDU alone of a request (what a v3 ScopedPDU carries), every value NULL."""
    if pdu_type not in _REQUEST_PDUS:
        raise ValueError(f"not a request PDU: 0x{pdu_type:02x}")
    if pdu_type != PDU_GETBULK and (non_repeaters or max_repetitions):
        raise ValueError("non-repeaters and max-repetitions are GetBulk's")
    vbl = b"".join(_tlv(TAG_SEQUENCE, _enc_oid(oid) + _NULL_VALUE) for oid in oids)
    return _pdu(pdu_type, request_id, non_repeaters, max_repetitions, _tlv(TAG_SEQUENCE, vbl))


def encode_request(
    pdu_type: int,
    version: int,
    community: bytes,
    request_id: int,
    oids: Sequence[Oid],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """A v1/v2c GetRequest, GetNextRequest or GetBulkRequest message, every value NULL.

    ``non_repeaters`` and ``max_repetitions`` are GetBulk's; the other PDUs send 0 there (the
    error-status and error-index of a request).
    """
    if version not in (VERSION_V1, VERSION_V2C):
        raise ValueError(f"unsupported version {version}")
    if pdu_type == PDU_GETBULK and version != VERSION_V2C:
        raise ValueError("GetBulkRequest needs SNMPv2c")
    pdu = encode_request_pdu(
        pdu_type, request_id, oids, non_repeaters=non_repeaters, max_repetitions=max_repetitions
    )
    return encode_message(version, community, pdu)


def encode_get(version: int, community: bytes, request_id: int, oids: Sequence[Oid]) -> bytes:
    return encode_request(PDU_GET, version, community, request_id, oids)


def encode_getnext(version: int, community: bytes, request_id: int, oids: Sequence[Oid]) -> bytes:
    return encode_request(PDU_GETNEXT, version, community, request_id, oids)


def encode_getbulk(
    community: bytes,
    request_id: int,
    oids: Sequence[Oid],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 10,
) -> bytes:
    return encode_request(
        PDU_GETBULK,
        VERSION_V2C,
        community,
        request_id,
        oids,
        non_repeaters=non_repeaters,
        max_repetitions=max_repetitions,
    )


def encode_response_pdu(
    version: int,
    community: bytes,
    request_id: int,
    varbinds: Sequence[ResponseVarBind],
    *,
    error_status: int = 0,
    error_index: int = 0,
) -> bytes:
    """A Response-PDU message, as an agent sends it (test responders, the lab)."""
    return encode_pdu_message(
        version,
        community,
        PDU_RESPONSE,
        request_id,
        varbinds,
        error_status=error_status,
        error_index=error_index,
    )

"""A small, strict BER codec for the SNMP v1/v2c messages of the trap receiver and the poller.

Notifications (received) and their Inform acknowledgements; GetRequest / GetNextRequest /
GetBulkRequest (sent) and their Response-PDUs (received); any other PDU of the RFC 3416 shape
through ``decode_pdu`` / ``encode_pdu``. Both receive paths are hot (traps, and every poll
answer), so it decodes one fixed schema with flat loops instead of a generic recursive ASN.1
engine: nothing recurses, so nesting is bounded by the schema (message > PDU > varbind list >
varbind > value), and a constructed value where a primitive is expected is rejected.

Every malformed input raises BerDecodeError, and so does every value outside its SMI range
(``shared.smi``); what is accepted and refused, and why, is in ``shared.ber_decode``.

This module decodes Response-PDUs and other PDUs of the RFC 3416 shape and re-exports the
rest: notifications are decoded in ``shared.ber_notify``, everything is encoded in
``shared.ber_encode``, the decoding core is ``shared.ber_decode``.

``typed=True`` returns the SMI classes of ``shared.smi`` (Counter32(5), not 5) so a decoded
message can be encoded again; the default plain values are what the hot paths use. The
``_decode_*`` functions are the decoders without the ``_guarded`` safety net, for fuzz tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from shared.ber_decode import _INT, _SEQ
from shared.ber_decode import MAX_INT_OCTETS as MAX_INT_OCTETS
from shared.ber_decode import MAX_VARBINDS as MAX_VARBINDS
from shared.ber_decode import _expect as _expect
from shared.ber_decode import _field as _field
from shared.ber_decode import _guarded as _guarded
from shared.ber_decode import _header as _header
from shared.ber_decode import _int as _int
from shared.ber_decode import _ipaddr as _ipaddr
from shared.ber_decode import _message_header as _message_header
from shared.ber_decode import _oid as _oid
from shared.ber_decode import _oid_cache as _oid_cache
from shared.ber_decode import _pdu_body as _pdu_body
from shared.ber_decode import _plain as _plain
from shared.ber_decode import _ranged as _ranged
from shared.ber_decode import _typed as _typed
from shared.ber_decode import _varbinds as _varbinds
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
from shared.ber_notify import SnmpMessage, decode_message, decode_notification_pdu, v1_trap_oid
from shared.ber_notify import _decode_message as _decode_message
from shared.ber_notify import _decode_notification_pdu as _decode_notification_pdu
from shared.ber_notify import _decode_v1_trap as _decode_v1_trap
from shared.errors import BerDecodeError
from shared.smi import (
    END_OF_MIB_VIEW,
    MAX_OID_ARCS,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
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
    SNMP_TRAP_ADDRESS_0,
    SNMP_TRAP_ENTERPRISE_0,
    SNMP_TRAP_OID_0,
    SNMP_TRAPS,
    SYS_UPTIME_0,
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
    "SNMP_TRAPS",
    "SNMP_TRAP_ADDRESS_0",
    "SNMP_TRAP_ENTERPRISE_0",
    "SNMP_TRAP_OID_0",
    "SYS_UPTIME_0",
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
    "SnmpMessage",
    "TimeTicks",
    "Value",
    "VarBind",
    "decode_message",
    "decode_notification_pdu",
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
    "v1_trap_oid",
]


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

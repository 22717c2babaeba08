"""A small, strict BER codec for the SNMP v1/v2c messages of the trap receiver and the poller.

Notifications (received) and their Inform acknowledgements; GetRequest / GetNextRequest /
GetBulkRequest (sent) and their Response-PDUs (received); any other PDU of the RFC 3416 shape
through ``decode_pdu`` / ``encode_pdu``. Both receive paths are hot (traps, and every poll
answer), so it decodes one fixed schema with flat loops instead of a generic recursive ASN.1
engine: nothing recurses, so nesting is bounded by the schema (message > PDU > varbind list >
varbind > value), and a constructed value where a primitive is expected is rejected.

Every malformed input raises BerDecodeError, and so does every value outside its SMI range
(``shared.smi``): a Counter32 above 2^32-1 is a protocol error, never a silently huge number.
What real agents get wrong but means one thing only is accepted (RFC 3417 section 8, X.690):

- redundant leading 0x00/0xFF octets of an integer (X.690 8.3.2 asks for the minimal form), as
  long as the value fits its type and the integer is at most 9 octets;
- an unsigned type (Counter32, Gauge32, TimeTicks, Counter64) whose top bit is set because the
  sender left out the 0x00 that keeps it positive: its octets are read as an unsigned number
  (33000 sent as 80 E8 is 33000, as its sender meant; net-snmp would sign-extend it to
  4294934760, pyasn1 refuses it), then range-checked, so ``41 05 80 00 00 00 00`` is refused;
- long-form lengths with more octets than needed (allowed by RFC 3417 section 8).

Refused on purpose: indefinite lengths and constructed (segmented) strings (RFC 3417 section 8
forbids both), integers wider than 9 octets, OIDs of more than 128 arcs or with an arc above
2^32-1 (RFC 2578 7.1.3), non-minimal OID arcs (X.690 8.19.2), IpAddress other than 4 octets.

``typed=True`` returns the SMI classes of ``shared.smi`` (Counter32(5), not 5) so a decoded
message can be encoded again; the default plain values are what the hot paths use. The
``_decode_*`` functions are the decoders without the ``_guarded`` safety net, for fuzz tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, ParamSpec, TypeVar

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
    INTEGER_TYPES,
    MAX_OCTETS,
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
    TYPED_CLASSES,
    V1_PDUS,
    V2_SHAPED_PDUS,
    VERSION_V1,
    VERSION_V2C,
    VERSION_V3,
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
MAX_VARBINDS: Final = 512
MAX_INT_OCTETS: Final = 9
_MAX_ARC: Final = 0xFFFFFFFF

SYS_UPTIME_0: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ENTERPRISE_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0)
SNMP_TRAP_ADDRESS_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)
SNMP_TRAPS: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 5)

_SEQ: Final = 0x30
_INT: Final = 0x02
_OCTETS: Final = 0x04
_NULL: Final = 0x05
_OID: Final = 0x06
_IPADDR: Final = 0x40
_TIMETICKS: Final = 0x43
_OPAQUE: Final = 0x44
_NOTIFICATION_PDUS: Final = frozenset({PDU_TRAP_V1, PDU_INFORM, PDU_TRAP_V2})
_REQUEST_PDUS: Final = frozenset({PDU_GET, PDU_GETNEXT, PDU_GETBULK})
_MAX_INT32: Final = 0x7FFFFFFF


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


# --------------------------------------------------------------------------- TLV level


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read tag and definite length at pos; return (tag, content start, content end)."""
    if pos + 2 > end:
        raise BerDecodeError("truncated TLV header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise BerDecodeError("multi-byte tags are not used by SNMP")
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        n &= 0x7F
        if n == 0:
            raise BerDecodeError("indefinite length")
        # Any number of length octets is legal BER (RFC 3417 section 8 allows more than
        # needed); 0x7f is reserved (X.690 8.1.3.5 c). The value is bounded by the datagram.
        if n == 0x7F or pos + n > end:
            raise BerDecodeError("bad length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    else:
        length = n
    stop = pos + length
    if stop > end:
        raise BerDecodeError("length beyond the datagram")
    return tag, pos, stop


def _expect(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    t, start, stop = _header(data, pos, end)
    if t != tag:
        raise BerDecodeError(f"expected tag 0x{tag:02x}, got 0x{t:02x}")
    return start, stop


def _int(data: bytes, start: int, stop: int) -> int:
    """A signed INTEGER of at most 9 octets, without a range check (see _ranged)."""
    n = stop - start
    if n == 0 or n > MAX_INT_OCTETS:
        raise BerDecodeError("bad integer width")
    return int.from_bytes(data[start:stop], "big", signed=True)


def _ranged(data: bytes, start: int, stop: int, kind: IntegerType) -> int:
    """An integer of the given type; an unsigned type's octets are read as unsigned (see the
    module docstring), then the value must fit the type's range."""
    n = stop - start
    if n == 0 or n > MAX_INT_OCTETS:
        raise BerDecodeError(f"{kind.name} of a bad width")
    value = int.from_bytes(data[start:stop], "big", signed=kind.signed)
    if value > kind.high or value < kind.low:
        raise BerDecodeError(kind.out_of_range(value))
    return value


def _field(data: bytes, pos: int, end: int, kind: IntegerType) -> tuple[int, int]:
    """An INTEGER field of a PDU at pos: (value, position after it)."""
    start, stop = _expect(data, pos, end, _INT)
    return _ranged(data, start, stop, kind), stop


# Decoded OIDs keyed by their encoding: answers and traps repeat the same OIDs, so this turns
# the per-octet loop into a dict hit. Only valid OIDs go in; bounded by clearing when full.
_oid_cache: dict[bytes, Oid] = {}
_OID_CACHE_MAX: Final = 8192


def _oid(data: bytes, start: int, stop: int) -> Oid:
    raw = data[start:stop]
    cached = _oid_cache.get(raw)
    if cached is not None:
        return cached
    return _oid_slow(raw)


def _oid_slow(raw: bytes) -> Oid:
    if not raw:
        raise BerDecodeError("empty OID")
    arcs: list[int] = []
    value = 0
    octets = 0
    for b in raw:
        if octets == 0 and b == 0x80:
            raise BerDecodeError("non-minimal OID arc")
        value = (value << 7) | (b & 0x7F)
        octets += 1
        if b & 0x80:
            if octets >= 5:
                raise BerDecodeError("OID arc above 2^32-1")
            continue
        if value > _MAX_ARC:
            raise BerDecodeError("OID arc above 2^32-1")
        if arcs:
            arcs.append(value)
        else:
            # X.690 8.19.4: the first sub-identifier is 40 * arc1 + arc2, arc1 in 0..2.
            first = min(value // 40, 2)
            arcs.append(first)
            arcs.append(value - 40 * first)
        if len(arcs) > MAX_OID_ARCS:
            raise BerDecodeError("OID of more than 128 arcs")
        value = 0
        octets = 0
    if octets:
        raise BerDecodeError("truncated OID arc")
    oid = tuple(arcs)
    if len(_oid_cache) >= _OID_CACHE_MAX:
        _oid_cache.clear()
    _oid_cache[raw] = oid
    return oid


def _ipaddr(data: bytes, start: int, stop: int) -> str:
    if stop - start != 4:
        raise BerDecodeError("IpAddress must be 4 octets")
    a, b, c, d = data[start:stop]
    return f"{a}.{b}.{c}.{d}"


# --------------------------------------------------------------------------- values

_ValueDecoder = Callable[[bytes, int, int, int], ResponseValue]


def _octets(data: bytes, start: int, stop: int) -> bytes:
    if stop - start > MAX_OCTETS:
        raise BerDecodeError("OCTET STRING longer than 65535 octets")
    return data[start:stop]


def _plain(data: bytes, tag: int, start: int, stop: int) -> ResponseValue:
    """One value of a v2 varbind, as a plain Python value; exceptions as ExceptionValue."""
    kind = INTEGER_TYPES.get(tag)
    if kind is not None:
        # _ranged inlined for the common case (the hot path); it raises the precise error.
        if 0 < stop - start <= MAX_INT_OCTETS:
            value = int.from_bytes(data[start:stop], "big", signed=kind.signed)
            if kind.low <= value <= kind.high:
                return value
        return _ranged(data, start, stop, kind)
    if tag in (_OCTETS, _OPAQUE):
        return _octets(data, start, stop)
    if tag == _OID:
        return _oid(data, start, stop)
    if tag == _IPADDR:
        return _ipaddr(data, start, stop)
    if tag == _NULL or 0x80 <= tag <= 0x82:
        if stop != start:
            raise BerDecodeError("NULL or exception value with content")
        return None if tag == _NULL else ExceptionValue(tag)
    raise BerDecodeError(f"unsupported value tag 0x{tag:02x}")


def _typed(data: bytes, tag: int, start: int, stop: int) -> ResponseValue:
    """The same value as _plain, in the SMI class that encodes back to the same type."""
    cls = TYPED_CLASSES.get(tag)
    if cls is not None:
        return cls(_ranged(data, start, stop, INTEGER_TYPES[tag]))
    if tag == _IPADDR:
        return IpAddress(_ipaddr(data, start, stop))
    if tag == _OPAQUE:
        return Opaque(_octets(data, start, stop))
    return _plain(data, tag, start, stop)


def _varbinds(
    data: bytes, pos: int, end: int, value: _ValueDecoder
) -> tuple[list[ResponseVarBind], int]:
    """Decode the varbind list at pos, each value with ``value``; return the list and the
    position after it. The hot loop of every poll: headers are read inline when their length
    is in the short form (every varbind of a usual answer), through _header otherwise."""
    start, stop = _expect(data, pos, end, _SEQ)
    out: list[ResponseVarBind] = []
    append = out.append
    cache = _oid_cache
    pos = start
    while pos < stop:
        if len(out) >= MAX_VARBINDS:
            raise BerDecodeError("too many varbinds")
        if pos + 2 <= stop and data[pos] == _SEQ and data[pos + 1] < 0x80:
            vb_start = pos + 2
            vb_stop = vb_start + data[pos + 1]
            if vb_stop > stop:
                raise BerDecodeError("length beyond the datagram")
        else:
            vb_start, vb_stop = _expect(data, pos, stop, _SEQ)
        if vb_start + 2 <= vb_stop and data[vb_start] == _OID and data[vb_start + 1] < 0x80:
            o_start = vb_start + 2
            o_stop = o_start + data[vb_start + 1]
            if o_stop > vb_stop:
                raise BerDecodeError("length beyond the datagram")
        else:
            o_start, o_stop = _expect(data, vb_start, vb_stop, _OID)
        raw = data[o_start:o_stop]
        oid = cache.get(raw)
        if oid is None:
            oid = _oid_slow(raw)
        if o_stop + 2 <= vb_stop and data[o_stop + 1] < 0x80:
            # (a multi-byte tag here is refused as an unsupported value tag)
            tag = data[o_stop]
            v_start = o_stop + 2
            v_stop = v_start + data[o_stop + 1]
        else:
            tag, v_start, v_stop = _header(data, o_stop, vb_stop)
        if v_stop != vb_stop:
            raise BerDecodeError("value does not end its varbind")
        append((oid, value(data, tag, v_start, v_stop)))
        pos = vb_stop
    return out, stop


# --------------------------------------------------------------------------- messages

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Belt and braces for a decoder: a slip past its explicit checks (an IndexError, ...)
    still surfaces as BerDecodeError("malformed <what>: <error type>"), never as a crash.
    The fuzz tests call the unwrapped decoders, so such a slip fails them."""

    def wrap(decode: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(decode)
        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return decode(*args, **kwargs)
            except BerDecodeError:
                raise
            except (IndexError, ValueError, TypeError, OverflowError) as exc:
                raise BerDecodeError(f"malformed {what}: {type(exc).__name__}") from None

        return guarded

    return wrap


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
    value = _typed_notification_value if typed else _notification_value
    request_id, _, _, found, vbl_pos = _pdu_body(data, p_start, p_stop, pdu_type, value)
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
        raw_varbinds=data[vbl_pos:p_stop],
    )


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

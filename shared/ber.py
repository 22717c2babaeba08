"""A small, strict BER codec for the SNMP v1/v2c messages of the trap receiver and the poller.

Notifications (received) and their Inform acknowledgements; GetRequest / GetNextRequest /
GetBulkRequest (sent) and their Response-PDUs (received). Both receive paths are hot (traps,
and every poll answer), so it so it decodes one fixed schema with flat loops instead
of a generic recursive ASN.1 engine: nothing recurses, so nesting is bounded by the schema
(message > PDU > varbind list > varbind > value, depth 5 of the allowed 8) and a constructed
value where a primitive is expected is rejected. Every malformed input raises BerDecodeError.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, ParamSpec, TypeAlias, TypeVar

from shared.errors import BerDecodeError

Oid: TypeAlias = tuple[int, ...]
Value: TypeAlias = int | bytes | Oid | str | None
VarBind: TypeAlias = tuple[Oid, Value]

VERSION_V1: Final = 0
VERSION_V2C: Final = 1
VERSION_V3: Final = 3

PDU_GET: Final = 0xA0
PDU_GETNEXT: Final = 0xA1
PDU_RESPONSE: Final = 0xA2
PDU_GETBULK: Final = 0xA5
PDU_TRAP_V1: Final = 0xA4
PDU_INFORM: Final = 0xA6
PDU_TRAP_V2: Final = 0xA7
PDU_REPORT: Final = 0xA8

MAX_DEPTH: Final = 8
MAX_VARBINDS: Final = 512
MAX_OID_ARCS: Final = 128
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
_COUNTER32: Final = 0x41
_GAUGE32: Final = 0x42
_TIMETICKS: Final = 0x43
_OPAQUE: Final = 0x44
_COUNTER64: Final = 0x46
_NO_SUCH_OBJECT: Final = 0x80
_NO_SUCH_INSTANCE: Final = 0x81
_END_OF_MIB_VIEW: Final = 0x82

_UNSIGNED_TAGS: Final = frozenset({_COUNTER32, _GAUGE32, _TIMETICKS, _COUNTER64})
_EXCEPTION_TAGS: Final = frozenset({_NULL, _NO_SUCH_OBJECT, _NO_SUCH_INSTANCE, _END_OF_MIB_VIEW})
_NOTIFICATION_PDUS: Final = frozenset({PDU_TRAP_V1, PDU_INFORM, PDU_TRAP_V2})
_REQUEST_PDUS: Final = frozenset({PDU_GET, PDU_GETNEXT, PDU_GETBULK})
_MAX_INT32: Final = 0x7FFFFFFF


class ExceptionValue(enum.Enum):
    """RFC 3416 varbind exceptions of a Response-PDU.

    A Response keeps them apart from NULL and from each other because a walk must stop on
    endOfMibView while a GET reports noSuchObject/noSuchInstance as "not there".
    """

    NO_SUCH_OBJECT = _NO_SUCH_OBJECT
    NO_SUCH_INSTANCE = _NO_SUCH_INSTANCE
    END_OF_MIB_VIEW = _END_OF_MIB_VIEW


NO_SUCH_OBJECT: Final = ExceptionValue.NO_SUCH_OBJECT
NO_SUCH_INSTANCE: Final = ExceptionValue.NO_SUCH_INSTANCE
END_OF_MIB_VIEW: Final = ExceptionValue.END_OF_MIB_VIEW

ResponseValue: TypeAlias = Value | ExceptionValue
ResponseVarBind: TypeAlias = tuple[Oid, ResponseValue]


# Typed values for the encoder: the decoder returns plain ints/bytes/str, but a sender must
# say which SMI type it means, so these thin subclasses carry the tag.
class Counter32(int):
    __slots__ = ()


class Gauge32(int):
    __slots__ = ()


class TimeTicks(int):
    __slots__ = ()


class Counter64(int):
    __slots__ = ()


class IpAddress(str):
    __slots__ = ()


class Opaque(bytes):
    __slots__ = ()


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


# --------------------------------------------------------------------------- decoding


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
        if n > 4 or pos + n > end:
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
    n = stop - start
    if n == 0 or n > MAX_INT_OCTETS:
        raise BerDecodeError("bad integer width")
    return int.from_bytes(data[start:stop], "big", signed=True)


def _uint(data: bytes, start: int, stop: int) -> int:
    value = _int(data, start, stop)
    if value < 0:
        # Some agents omit the leading zero octet of large counters; read them as unsigned
        # like net-snmp does rather than dropping the trap.
        value += 1 << (8 * (stop - start))
    return value


# Decoded OIDs keyed by their encoding: traps repeat the same few OIDs, so this turns the
# per-octet loop into a dict hit. Bounded by clearing when full.
_oid_cache: dict[bytes, Oid] = {}
_OID_CACHE_MAX: Final = 8192


def _oid(data: bytes, start: int, stop: int) -> Oid:
    raw = data[start:stop]
    cached = _oid_cache.get(raw)
    if cached is not None:
        return cached
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
                raise BerDecodeError("OID arc too large")
            continue
        if value > _MAX_ARC:
            raise BerDecodeError("OID arc too large")
        if not arcs:
            first = min(value // 40, 2)
            arcs.append(first)
            arcs.append(value - 40 * first)
        else:
            arcs.append(value)
        if len(arcs) > MAX_OID_ARCS:
            raise BerDecodeError("OID too long")
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


def _value(data: bytes, tag: int, start: int, stop: int) -> Value:
    if tag == _INT:
        return _int(data, start, stop)
    if tag in (_OCTETS, _OPAQUE):
        return data[start:stop]
    if tag == _OID:
        return _oid(data, start, stop)
    if tag in _UNSIGNED_TAGS:
        return _uint(data, start, stop)
    if tag == _IPADDR:
        return _ipaddr(data, start, stop)
    if tag in _EXCEPTION_TAGS:
        if stop != start:
            raise BerDecodeError("NULL-like value with content")
        return None
    raise BerDecodeError(f"unsupported value tag 0x{tag:02x}")


def _response_value(data: bytes, tag: int, start: int, stop: int) -> ResponseValue:
    if _NO_SUCH_OBJECT <= tag <= _END_OF_MIB_VIEW:
        if stop != start:
            raise BerDecodeError("exception value with content")
        return ExceptionValue(tag)
    return _value(data, tag, start, stop)


_V = TypeVar("_V")


def _varbinds(
    data: bytes,
    pos: int,
    end: int,
    value: Callable[[bytes, int, int, int], _V],
) -> tuple[list[tuple[Oid, _V]], int]:
    """Decode the varbind list starting at pos, each value with ``value``; return the list and
    the position after it."""
    start, stop = _expect(data, pos, end, _SEQ)
    out: list[tuple[Oid, _V]] = []
    pos = start
    while pos < stop:
        if len(out) >= MAX_VARBINDS:
            raise BerDecodeError("too many varbinds")
        vb_start, vb_stop = _expect(data, pos, stop, _SEQ)
        o_start, o_stop = _expect(data, vb_start, vb_stop, _OID)
        tag, v_start, v_stop = _header(data, o_stop, vb_stop)
        if v_stop != vb_stop:
            raise BerDecodeError("trailing data in varbind")
        out.append((_oid(data, o_start, o_stop), value(data, tag, v_start, v_stop)))
        pos = vb_stop
    return out, stop


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Belt and braces for a decoder: a slip past its explicit checks (an IndexError, ...)
    still surfaces as BerDecodeError("malformed <what>: <error type>"), never as a crash."""

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


def _message_header(data: bytes) -> tuple[int, bytes, int, int, int]:
    """Check the v1/v2c message wrapper that must fill data exactly; return its version,
    community, and the PDU's tag and content bounds."""
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
    return version, data[c_start:c_stop], pdu_type, p_start, p_stop


def _pdu_body(
    data: bytes,
    start: int,
    stop: int,
    value: Callable[[bytes, int, int, int], _V],
) -> tuple[int, int, int, list[tuple[Oid, _V]], int]:
    """Decode a v2 PDU's content data[start:stop], which it must fill: request-id,
    error-status, error-index, the varbinds, and where the varbind list starts."""
    r_start, r_stop = _expect(data, start, stop, _INT)
    request_id = _int(data, r_start, r_stop)
    s_start, s_stop = _expect(data, r_stop, stop, _INT)
    error_status = _int(data, s_start, s_stop)
    i_start, i_stop = _expect(data, s_stop, stop, _INT)
    error_index = _int(data, i_start, i_stop)
    varbinds, vbl_stop = _varbinds(data, i_stop, stop, value)
    if vbl_stop != stop:
        raise BerDecodeError("trailing data in PDU")
    return request_id, error_status, error_index, varbinds, i_stop


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


@_guarded("message")
def decode_message(data: bytes) -> SnmpMessage:
    """Decode a whole v1/v2c datagram carrying a Trap, v2 Trap or Inform."""
    version, community, pdu_type, p_start, p_stop = _message_header(data)
    if pdu_type not in _NOTIFICATION_PDUS:
        raise BerDecodeError(f"not a notification PDU: 0x{pdu_type:02x}")
    if pdu_type == PDU_TRAP_V1:
        if version != VERSION_V1:
            raise BerDecodeError("Trap-PDU in a v2c message")
        return _decode_v1_trap(data, community, p_start, p_stop)
    if version != VERSION_V2C:
        raise BerDecodeError("v2 PDU in a v1 message")

    request_id, _, _, varbinds, vbl_pos = _pdu_body(data, p_start, p_stop, _value)

    trap_oid: Oid | None = None
    uptime: int | None = None
    # RFC 3416 puts sysUpTime.0 and snmpTrapOID.0 first; scan in case an NE does not.
    if len(varbinds) >= 2 and varbinds[1][0] == SNMP_TRAP_OID_0:
        candidate = varbinds[1][1]
        if isinstance(candidate, tuple):
            trap_oid = candidate
        first = varbinds[0]
        if first[0] == SYS_UPTIME_0 and isinstance(first[1], int):
            uptime = first[1]
    else:
        for oid, value in varbinds:
            if oid == SNMP_TRAP_OID_0 and isinstance(value, tuple):
                trap_oid = value
            elif oid == SYS_UPTIME_0 and isinstance(value, int):
                uptime = value
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


@_guarded("response")
def decode_response(data: bytes) -> Response:
    """Decode a whole v1/v2c datagram carrying a Response-PDU (the answer to a request)."""
    version, community, pdu_type, p_start, p_stop = _message_header(data)
    if pdu_type != PDU_RESPONSE:
        raise BerDecodeError(f"not a Response-PDU: 0x{pdu_type:02x}")
    request_id, error_status, error_index, varbinds, _ = _pdu_body(
        data, p_start, p_stop, _response_value
    )
    return Response(
        version=version,
        community=community,
        request_id=request_id,
        error_status=error_status,
        error_index=error_index,
        varbinds=tuple(varbinds),
    )


@dataclass(frozen=True, slots=True)
class ResponsePdu:
    """A Response-PDU or Report-PDU without its message wrapper (what a v3 ScopedPDU carries)."""

    pdu_type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: tuple[ResponseVarBind, ...]


@_guarded("PDU")
def decode_response_pdu(data: bytes, pos: int, end: int) -> ResponsePdu:
    """Decode the Response-PDU or Report-PDU that fills data[pos:end] exactly."""
    pdu_type, p_start, p_stop = _header(data, pos, end)
    if p_stop != end:
        raise BerDecodeError("trailing data after PDU")
    if pdu_type not in (PDU_RESPONSE, PDU_REPORT):
        raise BerDecodeError(f"not a Response/Report-PDU: 0x{pdu_type:02x}")
    request_id, error_status, error_index, varbinds, _ = _pdu_body(
        data, p_start, p_stop, _response_value
    )
    return ResponsePdu(
        pdu_type=pdu_type,
        request_id=request_id,
        error_status=error_status,
        error_index=error_index,
        varbinds=tuple(varbinds),
    )


def v1_trap_oid(enterprise: Oid, generic: int, specific: int) -> Oid:
    """snmpTrapOID for a v1 trap, RFC 3584 section 3.1 (3)."""
    if 0 <= generic <= 5:
        return (*SNMP_TRAPS, generic + 1)
    if generic == 6:
        return (*enterprise, 0, specific)
    raise BerDecodeError(f"bad generic-trap {generic}")


def _decode_v1_trap(data: bytes, community: bytes, pos: int, end: int) -> SnmpMessage:
    e_start, e_stop = _expect(data, pos, end, _OID)
    enterprise = _oid(data, e_start, e_stop)
    a_start, a_stop = _expect(data, e_stop, end, _IPADDR)
    agent_address = _ipaddr(data, a_start, a_stop)
    g_start, g_stop = _expect(data, a_stop, end, _INT)
    generic = _int(data, g_start, g_stop)
    s_start, s_stop = _expect(data, g_stop, end, _INT)
    specific = _int(data, s_start, s_stop)
    t_start, t_stop = _expect(data, s_stop, end, _TIMETICKS)
    timestamp = _uint(data, t_start, t_stop)
    varbinds, vbl_stop = _varbinds(data, t_stop, end, _value)
    if vbl_stop != end:
        raise BerDecodeError("trailing data in Trap-PDU")
    trap_oid = v1_trap_oid(enterprise, generic, specific)

    converted: list[VarBind] = [(SYS_UPTIME_0, timestamp), (SNMP_TRAP_OID_0, trap_oid)]
    converted.extend(varbinds)
    present = {oid for oid, _ in varbinds}
    # RFC 3584 3.1 (4) also appends snmpTrapCommunity.0; we leave it out on purpose because
    # notifications flow into logs, alarms and the database, where a community must never go.
    if SNMP_TRAP_ADDRESS_0 not in present:
        converted.append((SNMP_TRAP_ADDRESS_0, agent_address))
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


@_guarded("v3 header")
def decode_v3_header(data: bytes) -> V3Header:
    """Read the v3 header fields (RFC 3412 / 3414) without touching the protected payload."""
    end = len(data)
    m_start, m_stop = _expect(data, 0, end, _SEQ)
    v_start, v_stop = _expect(data, m_start, m_stop, _INT)
    if _int(data, v_start, v_stop) != VERSION_V3:
        raise BerDecodeError("not a v3 message")
    g_start, g_stop = _expect(data, v_stop, m_stop, _SEQ)
    i_start, i_stop = _expect(data, g_start, g_stop, _INT)
    msg_id = _int(data, i_start, i_stop)
    x_start, x_stop = _expect(data, i_stop, g_stop, _INT)
    _int(data, x_start, x_stop)
    f_start, f_stop = _expect(data, x_stop, g_stop, _OCTETS)
    if f_stop - f_start != 1:
        raise BerDecodeError("msgFlags must be one octet")
    flags = data[f_start]
    sm_start, sm_stop = _expect(data, f_stop, g_stop, _INT)
    security_model = _int(data, sm_start, sm_stop)
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


# --------------------------------------------------------------------------- encoding


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _len(len(body)) + body


def _enc_int(tag: int, value: int, unsigned: bool = False) -> bytes:
    if unsigned:
        if value < 0:
            raise ValueError("unsigned SMI type with a negative value")
        body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    else:
        body = value.to_bytes((value + (value < 0)).bit_length() // 8 + 1, "big", signed=True)
    return _tlv(tag, body)


def _enc_oid(oid: Oid) -> bytes:
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise ValueError(f"cannot encode OID {oid}")
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        if arc < 0:
            raise ValueError(f"cannot encode OID {oid}")
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return _tlv(_OID, bytes(out))


def encode_value(value: ResponseValue) -> bytes:
    """BER for one varbind value; the typed subclasses above select the SMI type."""
    if value is None:
        return b"\x05\x00"
    if isinstance(value, ExceptionValue):
        return bytes((value.value, 0))
    if isinstance(value, bool):
        raise ValueError("bool is not an SMI type")
    if isinstance(value, Counter32):
        return _enc_int(_COUNTER32, value, unsigned=True)
    if isinstance(value, Gauge32):
        return _enc_int(_GAUGE32, value, unsigned=True)
    if isinstance(value, TimeTicks):
        return _enc_int(_TIMETICKS, value, unsigned=True)
    if isinstance(value, Counter64):
        return _enc_int(_COUNTER64, value, unsigned=True)
    if isinstance(value, int):
        return _enc_int(_INT, value)
    if isinstance(value, Opaque):
        return _tlv(_OPAQUE, bytes(value))
    if isinstance(value, bytes):
        return _tlv(_OCTETS, value)
    if isinstance(value, IpAddress):
        return _tlv(_IPADDR, bytes(int(part) for part in value.split(".")))
    if isinstance(value, str):
        return _tlv(_OCTETS, value.encode())
    if isinstance(value, tuple):
        return _enc_oid(value)
    raise ValueError(f"cannot encode {type(value).__name__}")


def encode_varbinds(
    varbinds: Sequence[VarBind] | Sequence[ResponseVarBind],
) -> bytes:
    return _tlv(_SEQ, b"".join(_tlv(_SEQ, _enc_oid(o) + encode_value(v)) for o, v in varbinds))


def _message(version: int, community: bytes, pdu: bytes) -> bytes:
    return _tlv(_SEQ, _enc_int(_INT, version) + _tlv(_OCTETS, community) + pdu)


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
    pdu_body = _enc_int(_INT, request_id) + b"\x02\x01\x00\x02\x01\x00" + encode_varbinds(full)
    return _message(VERSION_V2C, community, _tlv(PDU_INFORM if inform else PDU_TRAP_V2, pdu_body))


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
        + encode_value(IpAddress(agent_address))
        + _enc_int(_INT, generic)
        + _enc_int(_INT, specific)
        + _enc_int(_TIMETICKS, timestamp, unsigned=True)
        + encode_varbinds(varbinds)
    )
    return _message(VERSION_V1, community, _tlv(PDU_TRAP_V1, pdu_body))


def encode_response(message: SnmpMessage) -> bytes:
    """The Response-PDU acknowledging an Inform: same request-id, community and varbinds."""
    if message.pdu_type != PDU_INFORM:
        raise ValueError("only an Inform is answered")
    pdu_body = _enc_int(_INT, message.request_id) + b"\x02\x01\x00\x02\x01\x00"
    pdu_body += message.raw_varbinds or encode_varbinds(message.varbinds)
    return _message(message.version, message.community, _tlv(PDU_RESPONSE, pdu_body))


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
    if pdu_type not in _REQUEST_PDUS:
        raise ValueError(f"not a request PDU: 0x{pdu_type:02x}")
    if version not in (VERSION_V1, VERSION_V2C):
        raise ValueError(f"unsupported version {version}")
    if pdu_type == PDU_GETBULK and version != VERSION_V2C:
        raise ValueError("GetBulkRequest needs SNMPv2c")
    if pdu_type != PDU_GETBULK and (non_repeaters or max_repetitions):
        raise ValueError("non-repeaters and max-repetitions are GetBulk's")
    for field_value in (request_id, non_repeaters, max_repetitions):
        if not -_MAX_INT32 - 1 <= field_value <= _MAX_INT32:
            raise ValueError("request-id and GetBulk fields are 32-bit integers")
    if non_repeaters < 0 or max_repetitions < 0:
        raise ValueError("non-repeaters and max-repetitions must be >= 0")
    pdu = encode_request_pdu(
        pdu_type, request_id, oids, non_repeaters=non_repeaters, max_repetitions=max_repetitions
    )
    return _message(version, community, pdu)


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
    for field_value in (request_id, non_repeaters, max_repetitions):
        if not -_MAX_INT32 - 1 <= field_value <= _MAX_INT32:
            raise ValueError("request-id and GetBulk fields are 32-bit integers")
    if non_repeaters < 0 or max_repetitions < 0:
        raise ValueError("non-repeaters and max-repetitions must be >= 0")
    vbl = b"".join(_tlv(_SEQ, _enc_oid(oid) + b"\x05\x00") for oid in oids)
    pdu_body = (
        _enc_int(_INT, request_id)
        + _enc_int(_INT, non_repeaters)
        + _enc_int(_INT, max_repetitions)
        + _tlv(_SEQ, vbl)
    )
    return _tlv(pdu_type, pdu_body)


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
    if version not in (VERSION_V1, VERSION_V2C):
        raise ValueError(f"unsupported version {version}")
    pdu_body = (
        _enc_int(_INT, request_id)
        + _enc_int(_INT, error_status)
        + _enc_int(_INT, error_index)
        + encode_varbinds(varbinds)
    )
    return _message(version, community, _tlv(PDU_RESPONSE, pdu_body))

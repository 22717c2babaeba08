"""The decoding core of shared.ber: TLV headers, integers with their SMI ranges, OIDs, values,
the varbind loop and the v1/v2c message wrapper (import it through ``shared.ber``).

Every malformed input raises BerDecodeError, and so does every value outside its SMI range
(``shared.smi``): a Counter32 above 2^32-1 is a protocol error, never a silently huge number.
What real agents get wrong but means one thing only is accepted (RFC 3417 section 8, X.690):

- redundant leading 0x00/0xFF octets of an integer (X.690 8.3.2 asks for the minimal form), as
  long as the value fits its type and the integer is at most 9 octets;
- an unsigned type (Counter32, Gauge32, TimeTicks, Counter64) whose top bit is set because the
  sender left out the 0x00 that keeps it positive: its octets are read as an unsigned number
  (33000 sent as 80 E8 is 33000, as its sender meant; net-snmp would sign-extend it to
  4294934760, pyasn1 refuses it), then range-checked, so ``41 05 80 00 00 00 00`` is refused;
- long-form lengths with more octets than needed (allowed by RFC 3417 section 8);
- SNMPv2 value types (Counter64, the exceptions) in a v1 message, as net-snmp reads them.

Refused on purpose: indefinite lengths and constructed (segmented) strings (RFC 3417 section 8
forbids both), integers of no octet (X.690 8.3.1) or wider than 9, identifiers of more than one
octet (SNMP has no tag number above 30, X.690 8.1.2), OIDs of more than 128 arcs or with an
arc above 2^32-1 (RFC 2578 7.1.3), non-minimal OID arcs (X.690 8.19.2), IpAddress other than
4 octets. tests/unit/test_ber_pyasn1.py shows each case against pyasn1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

from shared.errors import BerDecodeError
from shared.smi import (
    ERROR_INDEX,
    ERROR_STATUS,
    INTEGER_TYPES,
    MAX_OCTETS,
    MAX_OID_ARCS,
    MAX_REPETITIONS,
    NON_REPEATERS,
    PDU_GETBULK,
    REQUEST_ID,
    TAG_INTEGER,
    TAG_IPADDRESS,
    TAG_NULL,
    TAG_OCTETS,
    TAG_OID,
    TAG_OPAQUE,
    TAG_SEQUENCE,
    TYPED_CLASSES,
    VERSION_V1,
    VERSION_V2C,
    ExceptionValue,
    IntegerType,
    IpAddress,
    Oid,
    Opaque,
    ResponseValue,
    ResponseVarBind,
)

MAX_VARBINDS: Final = 512
MAX_INT_OCTETS: Final = 9
_MAX_ARC: Final = 0xFFFFFFFF

# Short names of the tags of shared.smi for the decoding loops.
_SEQ: Final = TAG_SEQUENCE
_INT: Final = TAG_INTEGER
_OCTETS: Final = TAG_OCTETS
_NULL: Final = TAG_NULL
_OID: Final = TAG_OID
_IPADDR: Final = TAG_IPADDRESS
_OPAQUE: Final = TAG_OPAQUE


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

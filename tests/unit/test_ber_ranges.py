"""SMI range checks of shared.ber, both directions (RFC 2578 section 7, RFC 3416, X.690).

Each decode case is one value (or PDU field) written by hand, as an agent would put it on the
wire, including the quirks real agents have (a redundant leading 0x00, the 0x00 left out of an
unsigned value whose top bit is set); what is legal is accepted with the value the sender
meant, what is out of range is a BerDecodeError that names the type and never the value.
"""

from __future__ import annotations

import re

import pytest

from shared import ber
from shared.ber import (
    PDU_GETBULK,
    PDU_RESPONSE,
    VERSION_V2C,
    Counter32,
    Counter64,
    Gauge32,
    IpAddress,
    TimeTicks,
    decode_message,
    decode_pdu_message,
    decode_response,
    encode_notification,
    encode_pdu_message,
    encode_response_pdu,
    encode_value,
)
from shared.errors import BerDecodeError

pytestmark = pytest.mark.timeout(30)

NAME = (1, 3, 6, 1, 4, 1, 99, 1, 0)


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + ber._len(len(body)) + body


def _response(value_tlv: bytes, *, name: bytes | None = None, fields: bytes | None = None) -> bytes:
    """A v2c Response with one varbind whose value (and optionally name / the three leading
    INTEGER fields) are given as raw TLVs."""
    vb = _tlv(0x30, (name if name is not None else ber._enc_oid(NAME)) + value_tlv)
    pdu = (fields if fields is not None else b"\x02\x01\x07\x02\x01\x00\x02\x01\x00") + _tlv(
        0x30, vb
    )
    return _tlv(0x30, b"\x02\x01\x01\x04\x01c" + _tlv(PDU_RESPONSE, pdu))


def _raw_oid(first_subid: int, *arcs: int) -> bytes:
    """An OID TLV from sub-identifiers, written without the encoder's checks."""
    body = bytearray()
    for arc in (first_subid, *arcs):
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _value_of(data: bytes) -> object:
    ((_, value),) = decode_response(data).varbinds
    return value


UNSIGNED32 = [(0x41, "Counter32"), (0x42, "Gauge32"), (0x43, "TimeTicks")]


@pytest.mark.parametrize(("tag", "type_name"), UNSIGNED32)
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("00", 0),
        ("7f", 127),
        ("0080", 128),
        ("00ffffffff", 2**32 - 1),  # the legal 5-octet maximum
        ("0000000005", 5),  # redundant leading zeros: not minimal, same value
        ("000000000000000005", 5),  # ... up to 9 octets
        # The 0x00 left out (mini-snmpd, small embedded encoders): read as the sender meant.
        ("80e8", 33000),
        ("ffffffff", 2**32 - 1),
        ("fefffffe", 0xFEFFFFFE),  # a sysUpTime past 497 days' half: "negative-looking"
    ],
)
def test_unsigned32_accepted(tag: int, type_name: str, content: str, expected: int) -> None:
    assert _value_of(_response(_tlv(tag, bytes.fromhex(content)))) == expected


@pytest.mark.parametrize(("tag", "type_name"), UNSIGNED32)
@pytest.mark.parametrize(
    "content",
    [
        "0100000000",  # 2^32
        "00ffffffffff",  # 2^40 - 1 with its leading zero
        "8000000000",  # top bit set in 5 octets: no reading fits 32 bits
        "ffffffffff",  # -1 padded with 0xff: out of range whichever way it is read
        "",
        "00" * 10,  # wider than 9 octets
    ],
)
def test_unsigned32_out_of_range_rejected(tag: int, type_name: str, content: str) -> None:
    with pytest.raises(BerDecodeError, match=type_name) as err:
        decode_response(_response(_tlv(tag, bytes.fromhex(content))))
    # The type and which way it is out, never the value.
    assert re.fullmatch(
        f"{type_name} (value (above|below) its range 0\\.\\.2\\^32-1|of a bad width)",
        str(err.value),
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("00" + "ff" * 8, 2**64 - 1),
        ("ff" * 8, 2**64 - 1),  # 0x00 left out
        ("8000000000000000", 2**63),
        ("0000000000", 0),
    ],
)
def test_counter64_accepted(content: str, expected: int) -> None:
    assert _value_of(_response(_tlv(0x46, bytes.fromhex(content)))) == expected


@pytest.mark.parametrize("content", ["01" + "00" * 8, "80" + "00" * 8, "ff" * 9, "00" * 10])
def test_counter64_out_of_range_rejected(content: str) -> None:
    with pytest.raises(BerDecodeError, match="Counter64"):
        decode_response(_response(_tlv(0x46, bytes.fromhex(content))))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("80000000", -(2**31)),
        ("7fffffff", 2**31 - 1),
        ("ff", -1),
        ("0000000001", 1),  # redundant leading zero
        ("ffffffffff", -1),  # redundant leading 0xff
        ("ff80000000", -(2**31)),
    ],
)
def test_integer32_accepted(content: str, expected: int) -> None:
    assert _value_of(_response(_tlv(0x02, bytes.fromhex(content)))) == expected


@pytest.mark.parametrize(
    "content",
    [
        "0080000000",  # 2^31: an unsigned value sent as INTEGER (pysnmp refuses it too)
        "00dfffffff",
        "ff7fffffff",  # -2^31 - 1
        "0100000000000000",
        "",
    ],
)
def test_integer32_out_of_range_rejected(content: str) -> None:
    with pytest.raises(BerDecodeError, match="Integer32"):
        decode_response(_response(_tlv(0x02, bytes.fromhex(content))))


@pytest.mark.parametrize("content", ["", "0a0000", "0a000001ff", "0a00000100000000"])
def test_ipaddress_must_be_four_octets(content: str) -> None:
    with pytest.raises(BerDecodeError, match="IpAddress"):
        decode_response(_response(_tlv(0x40, bytes.fromhex(content))))
    assert _value_of(_response(_tlv(0x40, bytes.fromhex("0a000001")))) == "10.0.0.1"


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (_raw_oid(43, 6, 2**32 - 1), (1, 3, 6, 2**32 - 1)),
        (_raw_oid(39), (0, 39)),
        (_raw_oid(40), (1, 0)),
        (_raw_oid(79, 1), (1, 39, 1)),
        (_raw_oid(80), (2, 0)),
        (_raw_oid(180, 1), (2, 100, 1)),  # under arc 2 the second arc may be >= 40
        (_raw_oid(2**32 - 1), (2, 2**32 - 81)),
        (_raw_oid(43, *range(126)), (1, 3, *range(126))),  # 128 arcs
    ],
)
def test_oid_values_and_names_accepted(encoded: bytes, expected: tuple[int, ...]) -> None:
    got = decode_response(_response(encoded, name=encoded)).varbinds
    assert got == ((expected, expected),)


@pytest.mark.parametrize(
    ("encoded", "why"),
    [
        (_raw_oid(43, 6, 2**32), "above 2\\^32-1"),
        (_raw_oid(2**32), "above 2\\^32-1"),  # the shared first sub-identifier too
        (_raw_oid(43, 2**35), "above 2\\^32-1"),
        (_raw_oid(43, *range(127)), "128 arcs"),
        (_tlv(0x06, b"\x2b\x80\x01"), "non-minimal"),
        (_tlv(0x06, b""), "empty"),
        (_tlv(0x06, b"\x2b\x86"), "truncated"),
    ],
)
def test_bad_oids_rejected_as_value_and_as_name(encoded: bytes, why: str) -> None:
    with pytest.raises(BerDecodeError, match=why):
        decode_response(_response(encoded))
    with pytest.raises(BerDecodeError, match=why):
        decode_response(_response(b"\x05\x00", name=encoded))


def _fields(request_id: str, status: str, index: str) -> bytes:
    return b"".join(_tlv(0x02, bytes.fromhex(x)) for x in (request_id, status, index))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (_fields("80000000", "00", "00"), (-(2**31), 0, 0)),
        (_fields("7fffffff", "05", "01"), (2**31 - 1, 5, 1)),
        # error-status names numbers but does not constrain them (X.680): reported, not dropped
        (_fields("01", "13", "7fffffff"), (1, 19, 2**31 - 1)),
    ],
)
def test_pdu_fields_accepted(fields: bytes, expected: tuple[int, int, int]) -> None:
    got = decode_response(_response(b"\x05\x00", fields=fields))
    assert (got.request_id, got.error_status, got.error_index) == expected


@pytest.mark.parametrize(
    ("fields", "what"),
    [
        (_fields("0080000000", "00", "00"), "request-id"),
        (_fields("ff7fffffff", "00", "00"), "request-id"),
        (_fields("01", "0080000000", "00"), "error-status"),
        (_fields("01", "00", "ff"), "error-index"),  # -1
        (_fields("01", "00", "0080000000"), "error-index"),
    ],
)
def test_pdu_fields_out_of_range_rejected(fields: bytes, what: str) -> None:
    with pytest.raises(BerDecodeError, match=what):
        decode_response(_response(b"\x05\x00", fields=fields))


def test_getbulk_fields_are_non_negative() -> None:
    good = encode_pdu_message(VERSION_V2C, b"c", PDU_GETBULK, 1, [(NAME, None)], error_index=25)
    assert decode_pdu_message(good).pdu.error_index == 25
    bad = good.replace(b"\x02\x01\x19", b"\x02\x01\xff")  # max-repetitions -1
    with pytest.raises(BerDecodeError, match="max-repetitions"):
        decode_pdu_message(bad)


def _v1_trap(generic: bytes, specific: bytes, stamp: bytes, address: bytes) -> bytes:
    """A v1 Trap message from raw field TLVs."""
    pdu = ber._enc_oid((1, 3, 6, 1, 4, 1, 9)) + address + generic + specific + stamp
    return _tlv(0x30, b"\x02\x01\x00\x04\x01p" + _tlv(0xA4, pdu + b"\x30\x00"))


V1_OK = {
    "generic": b"\x02\x01\x06",
    "specific": b"\x02\x01\x11",
    "stamp": b"\x43\x05\x00\xff\xff\xff\xff",
    "address": b"\x40\x04\x0a\x00\x00\x01",
}


@pytest.mark.parametrize(
    ("field", "tlv", "what"),
    [
        ("generic", b"\x02\x01\x07", "generic-trap"),
        ("generic", b"\x02\x01\xff", "generic-trap"),
        ("specific", b"\x02\x05\x00\x80\x00\x00\x00", "specific-trap"),
        ("stamp", b"\x43\x05\x01\x00\x00\x00\x00", "TimeTicks"),
        ("address", b"\x40\x05\x0a\x00\x00\x01\x01", "IpAddress"),
    ],
)
def test_v1_trap_fields_range_checked(field: str, tlv: bytes, what: str) -> None:
    good = decode_message(_v1_trap(**V1_OK))
    assert (good.uptime, good.agent_address) == (2**32 - 1, "10.0.0.1")
    assert good.trap_oid == (1, 3, 6, 1, 4, 1, 9, 0, 17)
    with pytest.raises(BerDecodeError, match=what):
        decode_message(_v1_trap(**{**V1_OK, field: tlv}))


def _v2_trap(value_tlv: bytes) -> bytes:
    trap_oid = ber._enc_oid((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)) + ber._enc_oid(NAME)
    vbl = _tlv(0x30, trap_oid) + _tlv(0x30, ber._enc_oid(NAME) + value_tlv)
    pdu = b"\x02\x01\x00\x02\x01\x00\x02\x01\x00" + _tlv(0x30, vbl)
    return _tlv(0x30, b"\x02\x01\x01\x04\x01c" + _tlv(0xA7, pdu))


def test_notification_values_range_checked() -> None:
    assert decode_message(_v2_trap(b"\x41\x01\xff")).varbinds[1][1] == 255
    assert decode_message(_v2_trap(b"\x43\x04\xff\xff\xff\xff")).varbinds[1][1] == 2**32 - 1
    with pytest.raises(BerDecodeError, match="Counter32"):
        decode_message(_v2_trap(b"\x41\x05\x01\x00\x00\x00\x00"))
    with pytest.raises(BerDecodeError, match="Integer32"):
        decode_message(_v2_trap(b"\x02\x05\x00\x80\x00\x00\x00"))


# -- the encoder refuses what the decoder would ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (Counter32(2**32), "Counter32"),
        (Counter32(-1), "Counter32"),
        (Gauge32(2**32), "Gauge32"),
        (TimeTicks(2**32), "TimeTicks"),
        (TimeTicks(-5), "TimeTicks"),
        (Counter64(2**64), "Counter64"),
        (Counter64(-1), "Counter64"),
        (2**31, "Integer32"),
        (-(2**31) - 1, "Integer32"),
        (IpAddress("10.0.0.1.5"), "IpAddress"),
        (IpAddress("256.0.0.1"), "IpAddress"),
        (IpAddress("10.0.1"), "IpAddress"),
        (IpAddress("1e1.0.0.1"), "IpAddress"),
        ((1, 3, 6, 2**32), "OID"),
        ((1, 40), "OID"),
        ((3, 1), "OID"),
        ((2, 2**32 - 80), "OID"),  # first sub-identifier 80 + arc2 above 2^32-1
        ((1,), "OID"),
        ((1, 3, *range(127)), "OID"),
        ((1, 3, -1), "OID"),
        (b"x" * 65536, "OCTET STRING"),
    ],
)
def test_encoder_refuses_out_of_range(value: ber.ResponseValue, type_name: str) -> None:
    with pytest.raises(ValueError, match=type_name) as err:
        encode_value(value)
    if isinstance(value, int) and abs(value) > 9:
        assert str(abs(value)) not in str(err.value)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (Counter32(2**32 - 1), "4105 00ffffffff"),
        (Counter32(128), "4102 0080"),
        (Gauge32(0), "4201 00"),
        (TimeTicks(2**31), "4305 0080000000"),
        (Counter64(2**64 - 1), "4609 00ffffffffffffffff"),
        (-(2**31), "0204 80000000"),
        (2**31 - 1, "0204 7fffffff"),
        (IpAddress("0.0.0.0"), "4004 00000000"),
        ((2, 2**32 - 81), "0605 8fffffff7f"),
    ],
)
def test_encoder_writes_the_edges_minimally(value: ber.ResponseValue, wire: str) -> None:
    assert encode_value(value) == bytes.fromhex(wire.replace(" ", ""))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"request_id": 2**31},
        {"request_id": 0, "error_index": -1},
        {"request_id": 0, "error_status": 2**31},
    ],
)
def test_encoder_refuses_bad_pdu_fields(kwargs: dict[str, int]) -> None:
    request_id = kwargs.pop("request_id")
    with pytest.raises(ValueError, match=r"request-id|error-index|error-status"):
        encode_response_pdu(VERSION_V2C, b"c", request_id, [(NAME, None)], **kwargs)
    with pytest.raises(ValueError, match="TimeTicks"):
        encode_notification(b"c", NAME, uptime=2**32)

"""shared.ber: round trips, RFC 3584 v1 conversion, strict bounds, interop and fuzzing."""

from __future__ import annotations

import pytest
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.proto import api

from shared import ber, usm
from shared.ber import (
    PDU_INFORM,
    PDU_RESPONSE,
    PDU_TRAP_V1,
    PDU_TRAP_V2,
    SNMP_TRAP_ADDRESS_0,
    SNMP_TRAP_ENTERPRISE_0,
    SNMP_TRAP_OID_0,
    SYS_UPTIME_0,
    Counter32,
    Counter64,
    Gauge32,
    IpAddress,
    Opaque,
    TimeTicks,
    decode_message,
    encode_notification,
    encode_response,
    encode_v1_trap,
    peek_version,
)
from shared.errors import BerDecodeError
from tests.helpers.mutate import Node, mutations, parse

pytestmark = pytest.mark.timeout(30)

LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
IF_INDEX_7 = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7)

EVERY_TYPE: list[ber.VarBind] = [
    (IF_INDEX_7, 7),
    ((1, 3, 6, 1, 4, 1, 1, 1), -2147483648),
    ((1, 3, 6, 1, 4, 1, 1, 2), b"\xff\xfe\x00not utf-8\x80"),
    ((1, 3, 6, 1, 4, 1, 1, 3), (1, 3, 6, 1, 4, 1, 99999, 4294967295)),
    ((1, 3, 6, 1, 4, 1, 1, 4), IpAddress("192.0.2.254")),
    ((1, 3, 6, 1, 4, 1, 1, 5), Counter32(4294967295)),
    ((1, 3, 6, 1, 4, 1, 1, 6), Gauge32(0)),
    ((1, 3, 6, 1, 4, 1, 1, 7), TimeTicks(123456)),
    ((1, 3, 6, 1, 4, 1, 1, 8), Opaque(b"\x9f\x78\x04")),
    ((1, 3, 6, 1, 4, 1, 1, 9), Counter64(2**64 - 1)),
    ((1, 3, 6, 1, 4, 1, 1, 10), None),
]


def _valid_messages() -> list[bytes]:
    return [
        encode_notification(b"public", LINK_DOWN, EVERY_TYPE, uptime=42, request_id=9),
        encode_notification(b"c", LINK_DOWN, [(IF_INDEX_7, 7)], request_id=-5, inform=True),
        encode_v1_trap(b"v1c", (1, 3, 6, 1, 4, 1, 8072), "10.1.2.3", 6, 17, 99, EVERY_TYPE),
    ]


def test_v2c_trap_round_trip_keeps_every_value_type() -> None:
    data = encode_notification(b"public", LINK_DOWN, EVERY_TYPE, uptime=42, request_id=9)
    msg = decode_message(data)
    assert msg.version == ber.VERSION_V2C
    assert msg.community == b"public"
    assert msg.pdu_type == PDU_TRAP_V2
    assert msg.request_id == 9
    assert msg.trap_oid == LINK_DOWN
    assert msg.uptime == 42
    assert msg.varbinds[0] == (SYS_UPTIME_0, 42)
    assert msg.varbinds[1] == (SNMP_TRAP_OID_0, LINK_DOWN)
    expected = [(oid, str(v) if isinstance(v, IpAddress) else v) for oid, v in EVERY_TYPE]
    assert list(msg.varbinds[2:]) == expected
    # non-UTF-8 octets stay bytes, untouched
    assert msg.varbinds[4][1] == b"\xff\xfe\x00not utf-8\x80"
    assert isinstance(msg.varbinds[4][1], bytes)


def test_community_is_not_in_repr() -> None:
    msg = decode_message(encode_notification(b"s3cr3t-community", LINK_DOWN))
    assert "s3cr3t" not in repr(msg)


def test_inform_response_echoes_request_id_community_and_varbinds() -> None:
    data = encode_notification(b"pub", LINK_DOWN, EVERY_TYPE, request_id=123456, inform=True)
    msg = decode_message(data)
    assert msg.pdu_type == PDU_INFORM
    response = encode_response(msg)
    # Our decoder refuses a Response (not a notification), so check it with pysnmp's.
    pmod = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    decoded, rest = pyasn1_decoder.decode(response, asn1Spec=pmod.Message())
    assert rest == b""
    pdu = pmod.apiMessage.get_pdu(decoded)
    assert pdu.tagSet == pmod.ResponsePDU.tagSet
    assert bytes(pmod.apiMessage.get_community(decoded)) == b"pub"
    assert int(pmod.apiPDU.get_request_id(pdu)) == 123456
    assert int(pmod.apiPDU.get_error_status(pdu)) == 0
    assert len(pmod.apiPDU.get_varbinds(pdu)) == len(EVERY_TYPE) + 2
    assert response[response.index(bytes([PDU_RESPONSE])) :].endswith(msg.raw_varbinds)
    with pytest.raises(ValueError):
        encode_response(decode_message(encode_notification(b"pub", LINK_DOWN)))


@pytest.mark.parametrize(
    ("generic", "expected"),
    [
        (0, (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)),  # coldStart
        (2, (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)),  # linkDown
        (5, (1, 3, 6, 1, 6, 3, 1, 1, 5, 6)),  # egpNeighborLoss
        (6, (1, 3, 6, 1, 4, 1, 8072, 0, 17)),  # enterpriseSpecific
    ],
)
def test_v1_trap_converted_per_rfc3584(generic: int, expected: tuple[int, ...]) -> None:
    enterprise = (1, 3, 6, 1, 4, 1, 8072)
    data = encode_v1_trap(b"pub", enterprise, "10.1.2.3", generic, 17, 555, [(IF_INDEX_7, 7)])
    msg = decode_message(data)
    assert msg.pdu_type == PDU_TRAP_V1
    assert msg.version == ber.VERSION_V1
    assert msg.trap_oid == expected
    assert msg.uptime == 555
    assert msg.agent_address == "10.1.2.3"
    assert msg.varbinds == (
        (SYS_UPTIME_0, 555),
        (SNMP_TRAP_OID_0, expected),
        (IF_INDEX_7, 7),
        (SNMP_TRAP_ADDRESS_0, "10.1.2.3"),
        (SNMP_TRAP_ENTERPRISE_0, enterprise),
    )
    # The community must never leak into the varbinds (RFC 3584 would add it).
    assert not any(isinstance(v, bytes) for _, v in msg.varbinds)


def test_v1_bad_generic_trap_rejected() -> None:
    with pytest.raises(ValueError, match="generic-trap"):
        encode_v1_trap(b"p", (1, 3, 6, 1, 4, 1, 9), "10.0.0.1", 7, 0, 0)
    good = encode_v1_trap(b"p", (1, 3, 6, 1, 4, 1, 9), "10.0.0.1", 6, 0, 0)
    field = b"\x40\x04\x0a\x00\x00\x01\x02\x01\x06"
    assert good.count(field) == 1
    with pytest.raises(BerDecodeError, match="generic-trap"):
        decode_message(good.replace(field, field[:-1] + b"\x07"))


def test_decodes_what_pysnmp_encodes() -> None:
    pmod = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = pmod.SNMPv2TrapPDU()
    pmod.apiTrapPDU.set_defaults(pdu)
    pmod.apiPDU.set_request_id(pdu, 4242)
    pmod.apiTrapPDU.set_varbinds(
        pdu,
        [
            (SYS_UPTIME_0, pmod.TimeTicks(777)),
            (SNMP_TRAP_OID_0, pmod.ObjectIdentifier(LINK_DOWN)),
            (IF_INDEX_7, pmod.Integer(7)),
            ((1, 3, 6, 1, 4, 1, 1, 2), pmod.OctetString(b"\xc3\x28")),
            ((1, 3, 6, 1, 4, 1, 1, 3), pmod.Counter64(2**63)),
            ((1, 3, 6, 1, 4, 1, 1, 4), pmod.IpAddress("127.0.0.9")),
        ],
    )
    msg = pmod.Message()
    pmod.apiMessage.set_defaults(msg)
    pmod.apiMessage.set_community(msg, "interop")
    pmod.apiMessage.set_pdu(msg, pdu)
    decoded = decode_message(pyasn1_encoder.encode(msg))
    assert decoded.request_id == 4242
    assert decoded.community == b"interop"
    assert decoded.uptime == 777
    assert decoded.trap_oid == LINK_DOWN
    assert decoded.varbinds[2:] == (
        (IF_INDEX_7, 7),
        ((1, 3, 6, 1, 4, 1, 1, 2), b"\xc3\x28"),
        ((1, 3, 6, 1, 4, 1, 1, 3), 2**63),
        ((1, 3, 6, 1, 4, 1, 1, 4), "127.0.0.9"),
    )


def test_pysnmp_decodes_what_we_encode() -> None:
    pmod = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    data = encode_notification(b"x", LINK_DOWN, EVERY_TYPE, uptime=5, inform=True)
    decoded, rest = pyasn1_decoder.decode(data, asn1Spec=pmod.Message())
    assert rest == b""
    varbinds = pmod.apiPDU.get_varbinds(pmod.apiMessage.get_pdu(decoded))
    assert [tuple(oid) for oid, _ in varbinds][2:] == [oid for oid, _ in EVERY_TYPE]
    assert int(varbinds[7][1]) == 4294967295  # Counter32 max, with its leading zero octet
    assert bytes(varbinds[4][1]) == b"\xff\xfe\x00not utf-8\x80"


def test_peek_version() -> None:
    v2, _, v1 = _valid_messages()
    assert peek_version(v2) == 1
    assert peek_version(v1) == 0
    assert peek_version(b"") is None
    assert peek_version(b"\x30") is None
    assert peek_version(b"\x04\x03abc") is None
    assert peek_version(b"\x30\x03\x02\x01\x03") == 3


def _seq(body: bytes, tag: int = 0x30) -> bytes:
    return bytes([tag]) + ber._len(len(body)) + body


def _trap_with(varbind_list_body: bytes) -> bytes:
    pdu = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + _seq(varbind_list_body)
    return _seq(b"\x02\x01\x01\x04\x01c" + _seq(pdu, PDU_TRAP_V2))


TRAP_OID_VB = _seq(ber._enc_oid(SNMP_TRAP_OID_0) + ber._enc_oid(LINK_DOWN))


def _raw_oid(arcs: tuple[int, ...]) -> bytes:
    """An OID TLV written without the encoder's checks, to build what an agent must not send."""
    body = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body.extend(reversed(chunk))
    return _seq(bytes(body), 0x06)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("indefinite length", b"\x30\x80\x02\x01\x01\x00\x00"),
        ("length beyond datagram", b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01"),
        ("5 length octets, then no community", b"\x30\x85\x00\x00\x00\x00\x03\x02\x01\x01"),
        ("reserved length octet 0xff", b"\x30\xff" + b"\x00" * 130),
        ("trailing garbage", encode_notification(b"c", LINK_DOWN) + b"\x00"),
        ("version 3 here", _seq(b"\x02\x01\x03\x04\x01c" + _seq(b"", PDU_TRAP_V2))),
        ("GetRequest PDU", _seq(b"\x02\x01\x01\x04\x01c" + _seq(b"", 0xA0))),
        (
            "integer of 10 octets",
            _trap_with(TRAP_OID_VB + _seq(ber._enc_oid(IF_INDEX_7) + b"\x02\x0a" + b"\x01" * 10)),
        ),
        (
            "zero-length integer",
            _trap_with(TRAP_OID_VB + _seq(ber._enc_oid(IF_INDEX_7) + b"\x02\x00")),
        ),
        (
            "OID of 129 arcs",
            _trap_with(TRAP_OID_VB + _seq(_raw_oid((1, 3, *([1] * 127))) + b"\x05\x00")),
        ),
        (
            "OID arc over 32 bits",
            _trap_with(TRAP_OID_VB + _seq(b"\x06\x07\x2b\x90\x80\x80\x80\x80\x00" + b"\x05\x00")),
        ),
        (
            "truncated OID arc",
            _trap_with(TRAP_OID_VB + _seq(b"\x06\x02\x2b\x81" + b"\x05\x00")),
        ),
        (
            "constructed value (deep nesting)",
            _trap_with(TRAP_OID_VB + _seq(ber._enc_oid(IF_INDEX_7) + _seq(_seq(_seq(b""))))),
        ),
        (
            "unknown value tag",
            _trap_with(TRAP_OID_VB + _seq(ber._enc_oid(IF_INDEX_7) + b"\x45\x01\x00")),
        ),
        (
            "IpAddress of 5 octets",
            _trap_with(
                TRAP_OID_VB + _seq(ber._enc_oid(IF_INDEX_7) + b"\x40\x05\x01\x02\x03\x04\x05")
            ),
        ),
        ("no snmpTrapOID.0", _trap_with(_seq(ber._enc_oid(IF_INDEX_7) + b"\x05\x00"))),
        (
            "513 varbinds",
            _trap_with(TRAP_OID_VB + _seq(ber._enc_oid(IF_INDEX_7) + b"\x05\x00") * 512),
        ),
    ],
)
def test_bounds_and_malformed_inputs_rejected(name: str, data: bytes) -> None:
    with pytest.raises(BerDecodeError):
        decode_message(data)


def test_long_form_lengths_with_spare_octets_accepted() -> None:
    # RFC 3417 section 8: "it is permissible to use more than the minimum number of length
    # octets". Every length of a valid trap rewritten with 5 length octets still decodes.
    data = _five_length_octets(parse(encode_notification(b"c", LINK_DOWN, [(IF_INDEX_7, 7)])))
    assert data[1] == 0x85
    assert decode_message(data).varbinds[2] == (IF_INDEX_7, 7)


def _five_length_octets(node: Node) -> bytes:
    if node.children is None:
        body = node.content
    else:
        body = b"".join(_five_length_octets(c) for c in node.children)
    return bytes((node.tag, 0x85)) + len(body).to_bytes(5, "big") + body


def test_512_varbinds_accepted() -> None:
    data = _trap_with(TRAP_OID_VB + _seq(ber._enc_oid(IF_INDEX_7) + b"\x05\x00") * 511)
    assert len(decode_message(data).varbinds) == 512


def test_128_arc_oid_accepted() -> None:
    oid = (1, 3, *range(126))
    data = encode_notification(b"c", LINK_DOWN, [(oid, oid)])
    assert decode_message(data).varbinds[2] == (oid, oid)


def test_counter_without_leading_zero_read_as_unsigned() -> None:
    vb = _seq(ber._enc_oid(IF_INDEX_7) + b"\x41\x04\xff\xff\xff\xff")
    assert decode_message(_trap_with(TRAP_OID_VB + vb)).varbinds[1][1] == 4294967295


def test_fuzz_only_ber_decode_error_escapes() -> None:
    # The unguarded decoders: an IndexError & co. escaping fails the test (test_ber_fuzz.py has
    # the full invariants).
    seeds = _valid_messages()
    decoded_ok = rejected = 0
    for data in mutations(seeds, 6000, 20240611):  # bounded: under a second
        try:
            ber._decode_message(data)
            decoded_ok += 1
        except BerDecodeError:
            rejected += 1
        try:
            usm._decode_message(data)
        except BerDecodeError:
            pass
        peek_version(data)
    assert rejected > 3000
    assert decoded_ok + rejected == 6000

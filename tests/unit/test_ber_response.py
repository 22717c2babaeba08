"""shared.ber requests and Response-PDUs: round trips, interop with pyasn1, strict bounds, fuzz."""

from __future__ import annotations

import pytest
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.proto import api, rfc1905

from shared import ber
from shared.ber import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    PDU_GET,
    PDU_GETBULK,
    PDU_GETNEXT,
    PDU_RESPONSE,
    VERSION_V1,
    VERSION_V2C,
    Counter64,
    decode_message,
    decode_response,
    encode_get,
    encode_getbulk,
    encode_getnext,
    encode_notification,
    encode_request,
    encode_response_pdu,
)
from shared.errors import BerDecodeError
from tests.helpers.ber_seeds import EVERY, EXCEPTIONS
from tests.helpers.mutate import mutations

pytestmark = pytest.mark.timeout(30)

IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_HC_IN = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)

# Every SMI type at its edges, NULL and the three exceptions (the fuzz seeds' table).
EVERY_VALUE: list[ber.ResponseVarBind] = [*EVERY, *EXCEPTIONS]


def _seq(body: bytes, tag: int = 0x30) -> bytes:
    return bytes([tag]) + ber._len(len(body)) + body


def _response_with(varbind_list_body: bytes, header: bytes = b"\x02\x01\x07") -> bytes:
    pdu = header + b"\x02\x01\x00\x02\x01\x00" + _seq(varbind_list_body)
    return _seq(b"\x02\x01\x01\x04\x01c" + _seq(pdu, PDU_RESPONSE))


VB = _seq(ber._enc_oid(SYS_DESCR) + b"\x05\x00")


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [VERSION_V1, VERSION_V2C])
def test_response_round_trip_keeps_every_value(version: int) -> None:
    data = encode_response_pdu(version, b"pub", 123456789, EVERY_VALUE)
    got = decode_response(data)
    assert (got.version, got.community, got.request_id) == (version, b"pub", 123456789)
    assert (got.error_status, got.error_index) == (0, 0)
    assert got.varbinds == tuple(EVERY_VALUE)
    # The exceptions stay apart from NULL and from each other.
    values = [v for _, v in got.varbinds if v is None or isinstance(v, ber.ExceptionValue)]
    assert values == [None, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW]
    assert len(set(map(repr, values))) == 4


def test_response_error_status_and_negative_request_id() -> None:
    data = encode_response_pdu(
        VERSION_V1, b"c", -5, [(SYS_DESCR, None)], error_status=2, error_index=1
    )
    got = decode_response(data)
    assert (got.request_id, got.error_status, got.error_index) == (-5, 2, 1)


def test_community_not_in_response_repr() -> None:
    got = decode_response(encode_response_pdu(VERSION_V2C, b"s3cret-comm", 1, []))
    assert "s3cret-comm" not in repr(got)
    assert got.varbinds == ()


@pytest.mark.parametrize(
    ("data", "pdu_type", "version", "fields"),
    [
        (encode_get(VERSION_V1, b"c", 1, [SYS_DESCR]), PDU_GET, VERSION_V1, (1, 0, 0)),
        (
            encode_getnext(VERSION_V2C, b"c", 2**31 - 1, [IF_DESCR, IF_HC_IN]),
            PDU_GETNEXT,
            VERSION_V2C,
            (2**31 - 1, 0, 0),
        ),
        (
            encode_getbulk(b"c", 77, [IF_DESCR, IF_HC_IN], non_repeaters=1, max_repetitions=25),
            PDU_GETBULK,
            VERSION_V2C,
            (77, 1, 25),
        ),
    ],
    ids=["get-v1", "getnext-v2c", "getbulk"],
)
def test_pysnmp_decodes_our_requests(
    data: bytes, pdu_type: int, version: int, fields: tuple[int, int, int]
) -> None:
    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_1 if version == VERSION_V1 else 1]
    msg, rest = pyasn1_decoder.decode(data, asn1Spec=p.Message())
    assert rest == b""
    assert bytes(p.apiMessage.get_community(msg)) == b"c"
    pdu = p.apiMessage.get_pdu(msg)
    assert pdu.tagSet[0][2] == pdu_type & 0x1F
    assert (
        int(pdu.getComponentByPosition(0)),
        int(pdu.getComponentByPosition(1)),
        int(pdu.getComponentByPosition(2)),
    ) == fields
    names = [tuple(name) for name, _ in p.apiPDU.get_varbinds(pdu)]
    assert names[0] in (SYS_DESCR, IF_DESCR)
    assert all(str(v.__class__.__name__) == "Null" for _, v in p.apiPDU.get_varbinds(pdu))


def test_we_decode_what_pysnmp_encodes() -> None:
    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = p.GetResponsePDU()
    p.apiPDU.set_defaults(pdu)
    p.apiPDU.set_request_id(pdu, 4242)
    p.apiPDU.set_varbinds(
        pdu,
        [
            ((*IF_DESCR, 3), p.OctetString(b"xe-1/0/0")),
            ((*IF_HC_IN, 3), p.Counter64(2**40)),
            ((1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 10, 0, 0, 1), p.IpAddress("10.0.0.1")),
            ((1, 3, 6, 1, 9), rfc1905.endOfMibView),
            ((1, 3, 6, 1, 8), rfc1905.noSuchInstance),
        ],
    )
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, "public")
    p.apiMessage.set_pdu(msg, pdu)
    got = decode_response(pyasn1_encoder.encode(msg))
    assert got.request_id == 4242
    assert got.community == b"public"
    assert got.varbinds == (
        ((*IF_DESCR, 3), b"xe-1/0/0"),
        ((*IF_HC_IN, 3), 2**40),
        ((1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 10, 0, 0, 1), "10.0.0.1"),
        ((1, 3, 6, 1, 9), END_OF_MIB_VIEW),
        ((1, 3, 6, 1, 8), NO_SUCH_INSTANCE),
    )


def test_pysnmp_decodes_our_response() -> None:
    data = encode_response_pdu(VERSION_V2C, b"c", 9, [((*IF_HC_IN, 1), Counter64(5))])
    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    msg, _ = pyasn1_decoder.decode(data, asn1Spec=p.Message())
    pdu = p.apiMessage.get_pdu(msg)
    assert int(p.apiPDU.get_request_id(pdu)) == 9
    ((name, value),) = p.apiPDU.get_varbinds(pdu)
    assert tuple(name) == (*IF_HC_IN, 1) and int(value) == 5


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0xA2, VERSION_V2C, b"c", 1, [SYS_DESCR]), {}),  # a Response is not a request
        ((PDU_GET, 3, b"c", 1, [SYS_DESCR]), {}),
        ((PDU_GETBULK, VERSION_V1, b"c", 1, [SYS_DESCR]), {"max_repetitions": 5}),
        ((PDU_GET, VERSION_V2C, b"c", 1, [SYS_DESCR]), {"max_repetitions": 5}),
        ((PDU_GET, VERSION_V2C, b"c", 2**31, [SYS_DESCR]), {}),
        ((PDU_GETBULK, VERSION_V2C, b"c", 1, [SYS_DESCR]), {"max_repetitions": -1}),
        ((PDU_GET, VERSION_V2C, b"c", 1, [(1, 50, 1)]), {}),  # not an encodable OID
    ],
)
def test_bad_requests_refused(args: tuple[object, ...], kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        encode_request(*args, **kwargs)  # type: ignore[arg-type]


def test_notification_is_not_a_response_and_vice_versa() -> None:
    with pytest.raises(BerDecodeError, match="Response"):
        decode_response(encode_notification(b"c", (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)))
    with pytest.raises(BerDecodeError):
        decode_message(encode_response_pdu(VERSION_V2C, b"c", 1, [(SYS_DESCR, None)]))
    with pytest.raises(BerDecodeError, match="Response"):
        decode_response(encode_get(VERSION_V2C, b"c", 1, [SYS_DESCR]))


# -- strictness -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("trailing garbage", encode_response_pdu(VERSION_V2C, b"c", 1, []) + b"\x00"),
        ("version 3", _seq(b"\x02\x01\x03\x04\x01c" + _seq(b"", PDU_RESPONSE))),
        ("no request-id", _seq(b"\x02\x01\x01\x04\x01c" + _seq(b"", PDU_RESPONSE))),
        ("request-id of 10 octets", _response_with(VB, b"\x02\x0a" + b"\x01" * 10)),
        ("missing varbind list", _seq(b"\x02\x01\x01\x04\x01c" + _seq(b"\x02\x01\x01" * 3, 0xA2))),
        ("exception with content", _response_with(_seq(ber._enc_oid(SYS_DESCR) + b"\x82\x01\x00"))),
        ("unknown exception tag", _response_with(_seq(ber._enc_oid(SYS_DESCR) + b"\x83\x00"))),
        ("value missing", _response_with(_seq(ber._enc_oid(SYS_DESCR)))),
        ("two values", _response_with(_seq(ber._enc_oid(SYS_DESCR) + b"\x05\x00\x05\x00"))),
        ("name not an OID", _response_with(_seq(b"\x04\x01a\x05\x00"))),
        ("IpAddress of 3 octets", _response_with(_seq(ber._enc_oid(SYS_DESCR) + b"\x40\x03abc"))),
        ("constructed value", _response_with(_seq(ber._enc_oid(SYS_DESCR) + _seq(_seq(b""))))),
        ("513 varbinds", _response_with(VB * 513)),
        (
            "varbind list longer than the PDU",
            _seq(b"\x02\x01\x01\x04\x01c" + _seq(b"\x02\x01\x01" * 3 + b"\x30\x7f", 0xA2)),
        ),
    ],
)
def test_malformed_responses_rejected(name: str, data: bytes) -> None:
    with pytest.raises(BerDecodeError):
        decode_response(data)


def test_512_varbinds_accepted() -> None:
    assert len(decode_response(_response_with(VB * 512)).varbinds) == 512


def test_every_truncation_rejected() -> None:
    data = encode_response_pdu(VERSION_V2C, b"community", 99, EVERY_VALUE)
    for cut in range(len(data)):
        with pytest.raises(BerDecodeError):
            decode_response(data[:cut])


def test_fuzz_only_ber_decode_error_escapes() -> None:
    seeds = [
        encode_response_pdu(VERSION_V2C, b"public", 7, EVERY_VALUE),
        encode_response_pdu(VERSION_V1, b"c", -1, [(SYS_DESCR, 5)], error_status=2, error_index=1),
        encode_response_pdu(
            VERSION_V2C, b"c", 2**31 - 1, [((*IF_DESCR, i), b"x") for i in range(40)]
        ),
    ]
    decoded_ok = rejected = 0
    for data in mutations(seeds, 6000, 20250101):  # bounded: under a second
        try:
            got = ber._decode_response(data)  # unguarded: only BerDecodeError may escape
        except BerDecodeError:
            rejected += 1
        else:
            decoded_ok += 1
            assert len(got.varbinds) <= ber.MAX_VARBINDS
    assert rejected > 3000
    assert decoded_ok > 0  # some flips only touch contents, which must still decode
    assert decoded_ok + rejected == 6000

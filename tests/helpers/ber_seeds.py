"""Valid v1/v2c/v3 datagrams with every SMI type, PDU type and edge value: fuzz seeds."""

from __future__ import annotations

from shared import ber
from shared.ber import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    PDU_GETBULK,
    PDU_REPORT,
    PDU_SET,
    Counter32,
    Counter64,
    Gauge32,
    IpAddress,
    Opaque,
    TimeTicks,
)

LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
EVERY: list[ber.ResponseVarBind] = [
    ((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 1), b"ge-0/0/1\xff"),
    ((1, 3, 6, 1, 4, 1, 1, 1), -(2**31)),
    ((1, 3, 6, 1, 4, 1, 1, 2), (1, 3, 6, 1, 4, 1, 99999, 2**32 - 1)),
    ((1, 3, 6, 1, 4, 1, 1, 3), IpAddress("192.0.2.254")),
    ((1, 3, 6, 1, 4, 1, 1, 4), Counter32(2**32 - 1)),
    ((1, 3, 6, 1, 4, 1, 1, 5), Gauge32(0)),
    ((1, 3, 6, 1, 4, 1, 1, 6), TimeTicks(123456)),
    ((1, 3, 6, 1, 4, 1, 1, 7), Opaque(b"\x9f\x78\x04")),
    ((1, 3, 6, 1, 4, 1, 1, 8), Counter64(2**64 - 1)),
    ((1, 3, 6, 1, 4, 1, 1, 9), None),
    ((2, 999, 1), b""),
]
EXCEPTIONS: list[ber.ResponseVarBind] = [
    ((1, 3, 6, 1, 4, 1, 1, 10), NO_SUCH_OBJECT),
    ((1, 3, 6, 1, 4, 1, 1, 11), NO_SUCH_INSTANCE),
    ((1, 3, 6, 1, 4, 1, 1, 12), END_OF_MIB_VIEW),
]
V1_VALUES = [vb for vb in EVERY if not isinstance(vb[1], Counter64)]


def _v3_seed() -> bytes:
    usm = b"\x04\x05engid\x02\x01\x01\x02\x01\x02\x04\x04user\x04\x00\x04\x00"
    usm_seq = ber._tlv(0x30, usm)
    globaldata = b"\x30\x0d\x02\x01\x07\x02\x02\x05\xdc\x04\x01\x07\x02\x01\x03"
    body = b"\x02\x01\x03" + globaldata + ber._tlv(0x04, usm_seq) + b"\x04\x02\xaa\xbb"
    return ber._tlv(0x30, body)


SEEDS = [
    ber.encode_response_pdu(1, b"public", 7, EVERY + EXCEPTIONS),
    ber.encode_response_pdu(0, b"c", -1, V1_VALUES, error_status=2, error_index=1),
    ber.encode_response_pdu(
        1, b"c", 2**31 - 1, [((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i), b"x") for i in range(40)]
    ),
    ber.encode_notification(b"public", LINK_DOWN, EVERY, uptime=42, request_id=9),  # type: ignore[arg-type]
    ber.encode_notification(b"c", LINK_DOWN, EVERY[:3], request_id=-5, inform=True),  # type: ignore[arg-type]
    ber.encode_v1_trap(b"v1c", (1, 3, 6, 1, 4, 1, 8072), "10.1.2.3", 6, 17, 99, V1_VALUES),  # type: ignore[arg-type]
    ber.encode_v1_trap(b"v1c", (1, 3, 6, 1, 4, 1, 8072), "10.1.2.3", 2, 0, 2**32 - 1),
    ber.encode_request(
        PDU_GETBULK,
        1,
        b"c",
        77,
        [(1, 3, 6, 1, 2, 1, 2, 2, 1, 2)],
        non_repeaters=1,
        max_repetitions=25,
    ),
    ber.encode_get(0, b"c", 1, [(1, 3, 6, 1, 2, 1, 1, 1, 0)]),
    ber.encode_pdu_message(1, b"c", PDU_SET, 5, EVERY),
    ber.encode_pdu_message(
        1, b"c", PDU_REPORT, 5, [((1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0), Counter32(3))]
    ),
    _v3_seed(),
]

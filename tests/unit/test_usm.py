"""shared.usm: RFC 3414 key vectors, SHA-2/AES key cross-checks against pysnmp, codec."""

from __future__ import annotations

import hashlib
import random

import pytest
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.type import univ
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.rfc3414 import localkey
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from shared import ber, usm
from shared.errors import BerDecodeError

RFC_ENGINE = bytes.fromhex("000000000000000000000002")
SHA256 = usm.AUTH_PROTOCOLS["sha256"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("name", "ku", "kul"),
    [
        (  # RFC 3414 A.3.1
            "md5",
            "9faf3283884e92834ebc9847d8edd963",
            "526f5eed9fcce26f8964c2930787d82b",
        ),
        (  # RFC 3414 A.3.2
            "sha",
            "9fb5cc0381497b3793528939ff788d5d79145211",
            "6695febc9288e36282235fc7151f128497b38f3f",
        ),
    ],
)
def test_rfc3414_password_to_key_vectors(name: str, ku: str, kul: str) -> None:
    protocol = usm.AUTH_PROTOCOLS[name]
    master = usm.password_to_key(protocol, b"maplesyrup")
    assert master.hex() == ku
    assert usm.localize_key(protocol, master, RFC_ENGINE).hex() == kul


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", ["sha224", "sha256", "sha384", "sha512"])
def test_sha2_keys_match_pysnmp(name: str) -> None:
    protocol = usm.AUTH_PROTOCOLS[name]
    hash_func = getattr(hashlib, protocol.hash_name)
    ours = usm.localize_key(protocol, usm.password_to_key(protocol, b"auth-secret-1"), RFC_ENGINE)
    theirs = localkey.password_to_key(
        univ.OctetString(b"auth-secret-1"), univ.OctetString(RFC_ENGINE), hash_func
    )
    assert ours == bytes(theirs)
    assert protocol.mac_length == {"sha224": 16, "sha256": 24, "sha384": 32, "sha512": 48}[name]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("size", "length"), [("192", 24), ("256", 32)])
def test_aes_key_extension_matches_pysnmp_blumenthal(size: str, length: int) -> None:
    # Imported here: pysnmp's eso package only imports cleanly after rfc3414.service.
    from pysnmp.proto.secmod.eso.priv import aes192, aes256

    cls = aes192.AesBlumenthal192 if size == "192" else aes256.AesBlumenthal256
    protocol = usm.AUTH_PROTOCOLS["sha"]
    master = usm.password_to_key(protocol, b"priv-secret-1")
    ours = usm.aes_key(protocol, usm.localize_key(protocol, master, RFC_ENGINE), length)
    sha_id = (1, 3, 6, 1, 6, 3, 10, 1, 1, 3)  # usmHMACSHAAuthProtocol
    theirs = cls().localize_key(sha_id, univ.OctetString(master), univ.OctetString(RFC_ENGINE))
    assert len(ours) == length
    assert ours == bytes(theirs)


def _message(**overrides: object) -> tuple[bytes, int]:
    scoped = usm.encode_request(
        ber.PDU_GETBULK,
        77,
        [(1, 3, 6, 1, 2, 1, 2, 2, 1, 2)],
        context_engine_id=b"\x80\x00\x1f\x88\x04abc",
        context_name=b"ne1",
        max_repetitions=25,
    )
    args: dict[str, object] = {
        "msg_id": 77,
        "flags": usm.FLAG_AUTH | usm.FLAG_REPORTABLE,
        "engine_id": b"\x80\x00\x1f\x88\x04abc",
        "engine_boots": 3,
        "engine_time": 123456,
        "user": b"emsuser",
        "auth_length": SHA256.mac_length,
        "priv_params": b"",
        "data": scoped,
        "encrypted": False,
    }
    args.update(overrides)
    return usm.encode_message(**args)  # type: ignore[arg-type]


@pytest.mark.timeout(10)
def test_encode_sign_decode_verify_round_trip() -> None:
    key = bytes(range(32))
    raw, offset = _message()
    signed = usm.sign(SHA256, key, raw, offset)
    assert signed[:offset] == raw[:offset] and signed[offset + 24 :] == raw[offset + 24 :]
    msg = usm.decode_message(signed)
    assert (msg.msg_id, msg.flags, msg.security_model) == (77, 0x05, 3)
    assert (msg.engine_boots, msg.engine_time, msg.user) == (3, 123456, b"emsuser")
    assert msg.auth_offset == offset and msg.authenticated and not msg.encrypted
    assert usm.verify(SHA256, key, signed, msg)
    assert not usm.verify(SHA256, bytes(32), signed, msg)
    tampered = bytearray(signed)
    tampered[-3] ^= 0x01
    assert not usm.verify(SHA256, key, bytes(tampered), usm.decode_message(bytes(tampered)))
    # The security parameters are what pyasn1 reads too (independent decoder).
    whole, _ = pyasn1_decoder.decode(signed, asn1Spec=SNMPv3Message())
    assert int(whole["msgGlobalData"]["msgID"]) == 77
    raw_params = bytes(whole["msgSecurityParameters"])
    params, _ = pyasn1_decoder.decode(raw_params, asn1Spec=UsmSecurityParameters())
    assert bytes(params["msgUserName"]) == b"emsuser"
    assert int(params["msgAuthoritativeEngineTime"]) == 123456
    assert bytes(params["msgAuthenticationParameters"]) == msg.auth_params


@pytest.mark.timeout(10)
def test_encrypted_payload_and_scoped_pdu_round_trip() -> None:
    raw, _ = _message(
        flags=0x07, priv_params=b"\x00" * 7 + b"\x01", data=b"\x01\x02ciphertext", encrypted=True
    )
    msg = usm.decode_message(raw)
    assert msg.encrypted and msg.data == b"\x01\x02ciphertext" and msg.priv_params[-1] == 1
    pdu = ber._tlv(  # a Report naming usmStatsNotInTimeWindows
        ber.PDU_REPORT,
        b"\x02\x01\x05\x02\x01\x00\x02\x01\x00"
        + ber.encode_varbinds([((*usm.USM_STATS, 2, 0), ber.Counter32(9))]),
    )
    scoped = usm.decode_scoped_pdu(usm.encode_scoped_pdu(b"eng", b"ctx", pdu) + b"\x00\x00")
    assert (scoped.context_engine_id, scoped.context_name) == (b"eng", b"ctx")
    assert scoped.pdu.pdu_type == ber.PDU_REPORT and scoped.pdu.request_id == 5
    assert usm.report_name(scoped.pdu) == "notInTimeWindow"


@pytest.mark.timeout(10)
def test_response_pdu_decodes_exceptions() -> None:
    body = ber.encode_response_pdu(1, b"c", 9, [((1, 3, 6, 1), ber.END_OF_MIB_VIEW)])
    start = body.index(bytes((ber.PDU_RESPONSE,)))
    pdu = ber.decode_response_pdu(body, start, len(body))
    assert pdu.varbinds == (((1, 3, 6, 1), ber.END_OF_MIB_VIEW),)


@pytest.mark.timeout(30)
def test_malformed_input_raises_only_ber_decode_error() -> None:
    raw, offset = _message()
    good = usm.sign(SHA256, bytes(32), raw, offset)
    rng = random.Random(7)
    samples = [good[:n] for n in range(len(good))]
    for _ in range(3000):
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        samples.append(bytes(mutated))
    samples += [b"", b"\x30\x00", b"\x30\x80\x00\x00", bytes(200)]
    rejected = 0
    for sample in samples:
        try:
            msg = usm.decode_message(sample)
        except BerDecodeError:
            rejected += 1
            continue
        try:
            usm.decode_scoped_pdu(msg.data)
        except BerDecodeError:
            pass
    assert rejected >= len(good)  # every truncation at least
    with pytest.raises(BerDecodeError):
        usm.decode_scoped_pdu(b"\x30\x05\x04\x00\x04\x00\xa0")


@pytest.mark.timeout(10)
def test_encode_rejects_out_of_range_fields() -> None:
    with pytest.raises(ValueError):
        _message(engine_time=-1)
    with pytest.raises(ValueError):
        usm.password_to_key(SHA256, b"")

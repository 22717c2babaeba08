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
from shared import snmp_security as sec
from shared.errors import BerDecodeError

RFC_ENGINE = bytes.fromhex("000000000000000000000002")
SHA256 = sec.AUTH_PROTOCOLS["sha256"]


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
    protocol = sec.AUTH_PROTOCOLS[name]
    master = sec.password_to_key(protocol, b"maplesyrup")
    assert master.hex() == ku
    assert sec.localize_key(protocol, master, RFC_ENGINE).hex() == kul


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", ["sha224", "sha256", "sha384", "sha512"])
def test_sha2_keys_match_pysnmp(name: str) -> None:
    protocol = sec.AUTH_PROTOCOLS[name]
    hash_func = getattr(hashlib, protocol.hash_name)
    ours = sec.localize_key(protocol, sec.password_to_key(protocol, b"auth-secret-1"), RFC_ENGINE)
    theirs = localkey.password_to_key(
        univ.OctetString(b"auth-secret-1"), univ.OctetString(RFC_ENGINE), hash_func
    )
    assert ours == bytes(theirs)
    assert protocol.mac_length == {"sha224": 16, "sha256": 24, "sha384": 32, "sha512": 48}[name]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("auth", ["md5", "sha"])
@pytest.mark.parametrize("priv", ["aes192", "aes256", "aes192c", "aes256c"])
def test_aes_key_extensions_match_pysnmp(auth: str, priv: str) -> None:
    """Both key-extension variants, against pysnmp's implementation of each (whose class
    names and OIDs do not say which is which: NOTES.md; net-snmp is the judge in
    tests/integration/test_snmpv3_matrix.py)."""
    # Imported here: pysnmp's eso package only imports cleanly after rfc3414.service.
    from pysnmp.proto.secmod.eso.priv import aes192, aes256

    theirs_cls = {
        "aes192": aes192.AesBlumenthal192,
        "aes256": aes256.AesBlumenthal256,
        "aes192c": aes192.Aes192,  # pysnmp's Reeder ("used by many vendors") variant
        "aes256c": aes256.Aes256,
    }[priv]
    auth_p, priv_p = sec.AUTH_PROTOCOLS[auth], sec.PRIV_PROTOCOLS[priv]
    master = sec.password_to_key(auth_p, b"priv-secret-1")
    ours = sec.privacy_key(auth_p, priv_p, sec.localize_key(auth_p, master, RFC_ENGINE), RFC_ENGINE)
    auth_id = {"md5": (1, 3, 6, 1, 6, 3, 10, 1, 1, 2), "sha": (1, 3, 6, 1, 6, 3, 10, 1, 1, 3)}
    theirs = theirs_cls().localize_key(
        auth_id[auth], univ.OctetString(master), univ.OctetString(RFC_ENGINE)
    )
    assert len(ours) == priv_p.key_length
    assert ours == bytes(theirs)[: priv_p.key_length]


@pytest.mark.timeout(10)
def test_the_two_extensions_differ_only_when_the_hash_is_short() -> None:
    local = bytes(range(20))  # a SHA-1-sized localized key
    sha1, sha512 = sec.AUTH_PROTOCOLS["sha"], sec.AUTH_PROTOCOLS["sha512"]
    b = sec.privacy_key(sha1, sec.PRIV_PROTOCOLS["aes256"], local, RFC_ENGINE)
    r = sec.privacy_key(sha1, sec.PRIV_PROTOCOLS["aes256c"], local, RFC_ENGINE)
    assert b[:20] == r[:20] == local and b != r
    long = bytes(range(64))
    assert sec.privacy_key(sha512, sec.PRIV_PROTOCOLS["aes256"], long, RFC_ENGINE) == long[:32]
    assert sec.privacy_key(sha512, sec.PRIV_PROTOCOLS["aes256c"], long, RFC_ENGINE) == long[:32]


@pytest.mark.timeout(10)
def test_des_iv_and_aes_iv() -> None:
    # RFC 3414 8.1.1.1: IV = pre-IV (octets 8..15 of the key) XOR salt.
    assert sec.des_iv(bytes(8), b"\x01" * 8) == b"\x01" * 8
    assert sec.des_iv(b"\xff" * 8, b"\x0f" * 8) == b"\xf0" * 8
    assert sec.aes_iv(1, 2, b"saltsalt") == b"\x00\x00\x00\x01\x00\x00\x00\x02saltsalt"


@pytest.mark.timeout(10)
def test_timeliness_rules_rfc3414_3_2_7() -> None:
    # a) our engine (informs): same boots and within 150 s either way.
    assert sec.authoritative_in_window(5, 1000, 5, 1150)
    assert sec.authoritative_in_window(5, 1150, 5, 1000)
    assert not sec.authoritative_in_window(5, 1000, 5, 1151)
    assert not sec.authoritative_in_window(4, 1000, 5, 1000)
    assert not sec.authoritative_in_window(sec.MAX_BOOTS, 1, sec.MAX_BOOTS, 1)
    # b) a remote engine (traps): learnt on first sight, followed forward only.
    ok, clock = sec.check_peer(None, 5, 1000, now=0.0)
    assert ok and (clock.boots, clock.time) == (5, 1000)
    ok, clock = sec.check_peer(clock, 5, 900, now=10.0)  # 110 s behind our notion: late
    assert ok and clock.time_at(10.0) == 1010
    ok, later = sec.check_peer(clock, 5, 859, now=10.0)  # 151 s behind: a replay
    assert not ok and later == clock
    ok, _ = sec.check_peer(clock, 4, 5000, now=10.0)  # an earlier boot: a replay
    assert not ok
    ok, clock = sec.check_peer(clock, 6, 3, now=20.0)  # a reboot: the notion moves on
    assert ok and (clock.boots, clock.time_at(20.0)) == (6, 3)
    ok, _ = sec.check_peer(clock, 5, 99999, now=20.0)  # and the old boot is now refused
    assert not ok
    ok, _ = sec.check_peer(None, sec.MAX_BOOTS, 1, now=0.0)
    assert not ok


@pytest.mark.timeout(10)
def test_security_levels_and_names() -> None:
    assert sec.security_level("none", "none") == sec.NO_AUTH_NO_PRIV
    assert sec.security_level("SHA", "none") == sec.AUTH_NO_PRIV
    assert sec.security_level("sha512", "aes256c") == sec.AUTH_PRIV
    with pytest.raises(ValueError, match="privacy needs authentication"):
        sec.security_level("none", "aes")
    with pytest.raises(ValueError, match="aes192c"):  # the message lists the choices
        sec.security_level("sha", "aes-192")
    # One table: config and the model name exactly what the table has.
    from shared.model import AUTH_PROTOCOLS, PRIV_PROTOCOLS

    assert ("none", *sec.PRIV_PROTOCOLS) == PRIV_PROTOCOLS
    assert ("none", *sec.AUTH_PROTOCOLS) == AUTH_PROTOCOLS


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
def test_hand_built_v3_header_and_every_truncation() -> None:
    params = (
        b"\x04\x05engid"  # msgAuthoritativeEngineID
        b"\x02\x01\x01\x02\x01\x02"  # boots, time
        b"\x04\x04user\x04\x00\x04\x00"
    )
    params_seq = b"\x30" + bytes([len(params)]) + params
    globaldata = b"\x30\x0d\x02\x01\x07\x02\x02\x05\xdc\x04\x01\x07\x02\x01\x03"
    body = (
        b"\x02\x01\x03"
        + globaldata
        + b"\x04"
        + bytes([len(params_seq)])
        + params_seq
        + b"\x04\x02\xaa\xbb"  # encrypted scoped PDU
    )
    data = b"\x30" + bytes([len(body)]) + body
    msg = usm.decode_message(data)
    assert (msg.msg_id, msg.max_size, msg.flags, msg.security_model) == (7, 1500, 7, 3)
    assert (msg.engine_id, msg.engine_boots, msg.engine_time) == (b"engid", 1, 2)
    assert msg.user == b"user" and msg.data == b"\xaa\xbb"
    assert msg.reportable and msg.authenticated and msg.encrypted
    for cut in range(len(data)):
        with pytest.raises(BerDecodeError):
            usm.decode_message(data[:cut])


@pytest.mark.timeout(10)
def test_header_fields_in_their_smi_ranges_both_ways() -> None:
    """msgMaxSize is 484..2^31-1 (RFC 3412 section 6; net-snmp and pysnmp discard less), boots
    and time 0..2^31-1 (RFC 3414 2.4): what we refuse to read we never send either."""
    for name, bad in (
        ("max_size", 483),
        ("max_size", 2**31),
        ("msg_id", -1),
        ("engine_boots", 2**31),
        ("engine_time", -1),
    ):
        with pytest.raises(ValueError, match="range"):
            _message(**{name: bad})
    assert usm.decode_message(_message(max_size=484)[0]).max_size == 484
    good, _ = _message(max_size=1500, engine_time=0x7FFFFF00)
    for ok, bad, what in (
        (b"\x02\x02\x05\xdc", b"\x02\x02\x01\xe3", "msgMaxSize"),  # 1500 -> 483
        (b"\x02\x04\x7f\xff\xff\x00", b"\x02\x04\x80\x00\x00\x00", "EngineTime"),  # -> -2^31
    ):
        assert good.count(ok) == 1
        with pytest.raises(BerDecodeError, match=f"{what} value below its range"):
            usm.decode_message(good.replace(ok, bad))


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
        sec.password_to_key(SHA256, b"")

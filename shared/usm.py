"""SNMPv3 message codec and the USM digest (RFC 3412, 3414, 7860).

Pure code: encoding, decoding and HMAC of whole messages, the ScopedPDUs of requests,
responses, reports and notifications. The protocol table and the key arithmetic are in
shared/snmp_security.py; the ciphers need the ``cryptography`` package and live in the
agent's adapter (agent/usm.py). Every malformed input raises BerDecodeError.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from shared import ber, ber_encode
from shared.ber import _enc_int, _expect, _field, _guarded, _header, _int, _tlv
from shared.ber_encode import _checked
from shared.errors import BerDecodeError
from shared.smi import (
    ENGINE_BOOTS,
    ENGINE_TIME,
    MSG_ID,
    MSG_MAX_SIZE,
    MSG_SECURITY_MODEL,
    REQUEST_ID,
    TAG_INTEGER,
    TAG_OCTETS,
    TAG_SEQUENCE,
)
from shared.snmp_security import AuthProtocol

SECURITY_MODEL_USM: Final = 3
MAX_MESSAGE_SIZE: Final = 65507

FLAG_AUTH: Final = 0x01
FLAG_PRIV: Final = 0x02
FLAG_REPORTABLE: Final = 0x04

_SEQ: Final = TAG_SEQUENCE
_INT: Final = TAG_INTEGER
_OCTETS: Final = TAG_OCTETS

# Report varbinds of RFC 3414 3.1/3.2 (usmStats), by the last arc under 1.3.6.1.6.3.15.1.1.
USM_STATS: Final = (1, 3, 6, 1, 6, 3, 15, 1, 1)
REPORT_NAMES: Final = {
    1: "unsupportedSecurityLevel",
    2: "notInTimeWindow",
    3: "unknownUserName",
    4: "unknownEngineID",
    5: "wrongDigest",
    6: "decryptionError",
}
REPORT_ARCS: Final = {name: arc for arc, name in REPORT_NAMES.items()}
# RFC 3412 7.1.3: a Report whose request's request-id could not be read carries 2^31-1.
UNKNOWN_REQUEST_ID: Final = 0x7FFFFFFF


def digest(protocol: AuthProtocol, key: bytes, message: bytes) -> bytes:
    """The truncated HMAC of a whole message whose authentication parameters are zeroed."""
    # hmac.digest: OpenSSL's one-shot HMAC, ~15 % cheaper than hmac.new(...).digest().
    return hmac.digest(key, message, protocol.hash_name)[: protocol.mac_length]


@dataclass(frozen=True, slots=True)
class V3Message:
    """One decoded SNMPv3 message; ``data`` is the ScopedPDU, encrypted or plain."""

    msg_id: int
    max_size: int
    flags: int
    security_model: int
    engine_id: bytes
    engine_boots: int
    engine_time: int
    user: bytes
    auth_params: bytes = field(repr=False)
    priv_params: bytes = field(repr=False)
    data: bytes = field(repr=False)
    # Where the authentication parameters sit in the datagram, to zero them for the check.
    auth_offset: int = 0

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & FLAG_AUTH)

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & FLAG_PRIV)

    @property
    def reportable(self) -> bool:
        return bool(self.flags & FLAG_REPORTABLE)


@dataclass(frozen=True, slots=True)
class ScopedPdu:
    context_engine_id: bytes
    context_name: bytes
    pdu: ber.ResponsePdu


def encode_message(
    *,
    msg_id: int,
    flags: int,
    engine_id: bytes,
    engine_boots: int,
    engine_time: int,
    user: bytes,
    auth_length: int,
    priv_params: bytes,
    data: bytes,
    encrypted: bool,
    max_size: int = MAX_MESSAGE_SIZE,
) -> tuple[bytes, int]:
    """Encode a message with zeroed authentication parameters of ``auth_length`` octets.

    ``data`` is the ScopedPDU TLV, or the ciphertext when ``encrypted`` (then wrapped in an
    OCTET STRING). Returns the datagram and the offset of the authentication parameters,
    where the caller writes the digest (see ``sign``).
    """
    for kind, value in (
        (MSG_ID, msg_id),
        (MSG_MAX_SIZE, max_size),
        (ENGINE_BOOTS, engine_boots),
        (ENGINE_TIME, engine_time),
    ):
        _checked(kind, value)
    head = (
        _tlv(_OCTETS, engine_id)
        + _enc_int(_INT, engine_boots)
        + _enc_int(_INT, engine_time)
        + _tlv(_OCTETS, user)
    )
    auth_tlv = _tlv(_OCTETS, bytes(auth_length))
    usm_body = head + auth_tlv + _tlv(_OCTETS, priv_params)
    usm_seq = _tlv(_SEQ, usm_body)
    security = _tlv(_OCTETS, usm_seq)
    global_data = _tlv(
        _SEQ,
        _enc_int(_INT, msg_id)
        + _enc_int(_INT, max_size)
        + _tlv(_OCTETS, bytes((flags,)))
        + _enc_int(_INT, SECURITY_MODEL_USM),
    )
    body_start = b"\x02\x01\x03" + global_data
    payload = _tlv(_OCTETS, data) if encrypted else data
    message = _tlv(_SEQ, body_start + security + payload)
    # The auth OCTET STRING is the only all-zero TLV of its length right after the user name,
    # so its offset follows from the lengths of everything encoded before it.
    outer_header = len(message) - len(body_start) - len(security) - len(payload)
    offset = (
        outer_header
        + len(body_start)
        + (len(security) - len(usm_seq))
        + (len(usm_seq) - len(usm_body))
        + len(head)
        + (len(auth_tlv) - auth_length)
    )
    return message, offset


def sign(protocol: AuthProtocol, key: bytes, message: bytes, offset: int) -> bytes:
    """Write the digest into a message encoded with zeroed authentication parameters."""
    mac = digest(protocol, key, message)
    return message[:offset] + mac + message[offset + len(mac) :]


def verify(protocol: AuthProtocol, key: bytes, datagram: bytes, message: V3Message) -> bool:
    """Check a received message's digest (RFC 3414 3.2.6) in constant time."""
    if len(message.auth_params) != protocol.mac_length:
        return False
    start, stop = message.auth_offset, message.auth_offset + protocol.mac_length
    zeroed = datagram[:start] + bytes(protocol.mac_length) + datagram[stop:]
    return hmac.compare_digest(digest(protocol, key, zeroed), message.auth_params)


def encode_scoped_pdu(context_engine_id: bytes, context_name: bytes, pdu: bytes) -> bytes:
    return _tlv(_SEQ, _tlv(_OCTETS, context_engine_id) + _tlv(_OCTETS, context_name) + pdu)


def encode_request(
    pdu_type: int,
    request_id: int,
    oids: Sequence[ber.Oid],
    *,
    context_engine_id: bytes,
    context_name: bytes,
    max_repetitions: int = 0,
) -> bytes:
    """A ScopedPDU carrying a GET / GETNEXT / GETBULK request."""
    pdu = ber.encode_request_pdu(pdu_type, request_id, oids, max_repetitions=max_repetitions)
    return encode_scoped_pdu(context_engine_id, context_name, pdu)


def _decode_message(data: bytes) -> V3Message:
    end = len(data)
    m_start, m_stop = _expect(data, 0, end, _SEQ)
    if m_stop != end:
        raise BerDecodeError("trailing data after message")
    v_start, v_stop = _expect(data, m_start, m_stop, _INT)
    if _int(data, v_start, v_stop) != ber.VERSION_V3:
        raise BerDecodeError("not a v3 message")
    g_start, g_stop = _expect(data, v_stop, m_stop, _SEQ)
    msg_id, pos = _field(data, g_start, g_stop, MSG_ID)
    max_size, pos = _field(data, pos, g_stop, MSG_MAX_SIZE)
    f_start, f_stop = _expect(data, pos, g_stop, _OCTETS)
    if f_stop - f_start != 1:
        raise BerDecodeError("msgFlags must be one octet")
    flags = data[f_start]
    if flags & FLAG_PRIV and not flags & FLAG_AUTH:
        raise BerDecodeError("privacy without authentication")
    security_model, sm_stop = _field(data, f_stop, g_stop, MSG_SECURITY_MODEL)
    if sm_stop != g_stop:
        raise BerDecodeError("trailing data in msgGlobalData")
    sp_start, sp_stop = _expect(data, g_stop, m_stop, _OCTETS)
    u_start, u_stop = _expect(data, sp_start, sp_stop, _SEQ)
    if u_stop != sp_stop:
        raise BerDecodeError("trailing data in security parameters")
    e_start, e_stop = _expect(data, u_start, u_stop, _OCTETS)
    engine_boots, pos = _field(data, e_stop, u_stop, ENGINE_BOOTS)
    engine_time, pos = _field(data, pos, u_stop, ENGINE_TIME)
    n_start, n_stop = _expect(data, pos, u_stop, _OCTETS)
    a_start, a_stop = _expect(data, n_stop, u_stop, _OCTETS)
    p_start, p_stop = _expect(data, a_stop, u_stop, _OCTETS)
    if p_stop != u_stop:
        raise BerDecodeError("trailing data in UsmSecurityParameters")
    if flags & FLAG_PRIV:
        d_start, d_stop = _expect(data, sp_stop, m_stop, _OCTETS)
        payload = data[d_start:d_stop]
    else:
        tag, _c_start, d_stop = _header(data, sp_stop, m_stop)
        if tag != _SEQ:
            raise BerDecodeError("plaintext ScopedPDU must be a SEQUENCE")
        payload = data[sp_stop:d_stop]
    if d_stop != m_stop:
        raise BerDecodeError("trailing data after msgData")
    return V3Message(
        msg_id=msg_id,
        max_size=max_size,
        flags=flags,
        security_model=security_model,
        engine_id=data[e_start:e_stop],
        engine_boots=engine_boots,
        engine_time=engine_time,
        user=data[n_start:n_stop],
        auth_params=data[a_start:a_stop],
        priv_params=data[p_start:p_stop],
        data=payload,
        auth_offset=a_start,
    )


decode_message = _guarded("v3 message")(_decode_message)
decode_message.__doc__ = """Decode a whole SNMPv3 datagram (USM security model), the ScopedPDU
left undecoded; every header field is checked against its range in shared.smi. The unguarded
``_decode_message`` is for fuzz tests."""


@_guarded("ScopedPDU")
def decode_scoped_pdu(data: bytes) -> ScopedPdu:
    """Decode a (decrypted) ScopedPDU; padding after it is ignored (block ciphers add it)."""
    s_start, s_stop = _expect(data, 0, len(data), _SEQ)
    e_start, e_stop = _expect(data, s_start, s_stop, _OCTETS)
    n_start, n_stop = _expect(data, e_stop, s_stop, _OCTETS)
    pdu = ber.decode_response_pdu(data, n_stop, s_stop)
    return ScopedPdu(data[e_start:e_stop], data[n_start:n_stop], pdu)


def report_name(pdu: ber.ResponsePdu) -> str:
    """The usmStats counter a Report-PDU names ("unknownEngineID", ...), else "report"."""
    for oid, _value in pdu.varbinds:
        if len(oid) == len(USM_STATS) + 2 and oid[: len(USM_STATS)] == USM_STATS:
            return REPORT_NAMES.get(oid[len(USM_STATS)], "report")
    return "report"


@dataclass(frozen=True, slots=True)
class ScopedNotification:
    """A decrypted ScopedPDU carrying an SNMPv2-Trap or an InformRequest."""

    context_engine_id: bytes
    context_name: bytes
    notification: ber.SnmpMessage  # community empty; varbinds, trap OID, uptime, request-id


@_guarded("ScopedPDU")
def decode_scoped_notification(data: bytes) -> ScopedNotification:
    """Decode a (decrypted) ScopedPDU holding a Trap or Inform; padding after it is ignored.

    The PDU goes through the same decoder as a v2c notification (shared.ber), so both
    versions follow one set of rules for varbinds, snmpTrapOID.0 and sysUpTime.0.
    """
    s_start, s_stop = _expect(data, 0, len(data), _SEQ)
    e_start, e_stop = _expect(data, s_start, s_stop, _OCTETS)
    n_start, n_stop = _expect(data, e_stop, s_stop, _OCTETS)
    pdu = data[n_stop:s_stop]
    if not pdu or pdu[0] not in (ber.PDU_TRAP_V2, ber.PDU_INFORM):
        raise BerDecodeError("not a notification PDU")
    # A v2c message wrapper with an empty community around the PDU.
    notification = ber.decode_message(_tlv(_SEQ, b"\x02\x01\x01\x04\x00" + pdu))
    return ScopedNotification(data[e_start:e_stop], data[n_start:n_stop], notification)


@_guarded("ScopedPDU")
def scoped_request_id(data: bytes) -> int | None:
    """The request-id of a plaintext ScopedPDU of any PDU type, or None if unreadable."""
    s_start, s_stop = _expect(data, 0, len(data), _SEQ)
    _e_start, e_stop = _expect(data, s_start, s_stop, _OCTETS)
    _n_start, n_stop = _expect(data, e_stop, s_stop, _OCTETS)
    tag, p_start, p_stop = _header(data, n_stop, s_stop)
    if tag & 0xE0 != 0xA0:
        return None
    r_start, r_stop = _expect(data, p_start, p_stop, _INT)
    value = _int(data, r_start, r_stop)
    return value if REQUEST_ID.low <= value <= REQUEST_ID.high else None


def encode_report_pdu(request_id: int, name: str, count: int) -> bytes:
    """A Report-PDU naming one usmStats counter (RFC 3414 3.2) with its value."""
    oid = (*USM_STATS, REPORT_ARCS[name], 0)
    return ber_encode.encode_report_pdu(request_id, [(oid, ber.Counter32(count & 0xFFFFFFFF))])


def encode_response_to(notification: ber.SnmpMessage) -> bytes:
    """The Response-PDU acknowledging an Inform: its request-id and varbinds, verbatim."""
    return ber_encode.encode_ack_pdu(notification)

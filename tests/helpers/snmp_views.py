"""One comparable view of a v1/v2c message, from pyasn1 (pysnmp's message specs) and from ours.

A view is (version, community, pdu tag, the PDU's fields, varbinds), each varbind value as
(BER tag, plain value): pyasn1 and shared.ber must agree on every one of them for the same
octets. A v1 Trap-PDU keeps its own fields (enterprise, agent-addr, generic, specific,
time-stamp) on both sides, so no RFC 3584 conversion is compared against itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder as pyasn1_decoder
from pysnmp.proto import api

from shared import ber
from shared.errors import BerDecodeError

Tagged = tuple[int, Any]  # (BER identifier octet, plain value)


@dataclass(frozen=True)
class View:
    version: int
    community: bytes
    pdu_type: int
    fields: tuple[Any, ...]
    varbinds: tuple[tuple[tuple[int, ...], Tagged], ...]


@dataclass(frozen=True)
class Rejected:
    reason: str


def _identifier(value: Any) -> int:
    tag = value.tagSet[-1]
    return int(tag.tagClass) | int(tag.tagFormat) | int(tag.tagId)


def _pyasn1_value(value: Any) -> Tagged:
    ident = _identifier(value)
    if ident in (0x02, 0x41, 0x42, 0x43, 0x46):
        return ident, int(value)
    if ident == 0x40:
        return ident, ".".join(map(str, value.asOctets()))
    if ident in (0x04, 0x44):
        return ident, bytes(value.asOctets())
    if ident == 0x06:
        return ident, tuple(value)
    if ident in (0x05, 0x80, 0x81, 0x82):
        return ident, None
    raise AssertionError(f"pyasn1 gave an unexpected value class {type(value).__name__}")


def pyasn1_view(data: bytes) -> View | Rejected:
    """Decode with pyasn1 and pysnmp's v1 (RFC 1157) or v2c (RFC 1905) Message spec."""
    version = ber.peek_version(data)
    if version not in (0, 1):
        return Rejected("version")
    pmod = api.PROTOCOL_MODULES[api.SNMP_VERSION_1 if version == 0 else api.SNMP_VERSION_2C]
    try:
        msg, rest = pyasn1_decoder.decode(data, asn1Spec=pmod.Message())
        if rest:
            return Rejected("trailing octets")
        pdu = pmod.apiMessage.get_pdu(msg)
        pdu_type = _identifier(pdu)
        community = bytes(pmod.apiMessage.get_community(msg))
        trap = pdu_type == ber.PDU_TRAP_V1
        api_pdu = pmod.apiTrapPDU if trap else pmod.apiPDU
        varbinds = tuple(
            (tuple(name), _pyasn1_value(value)) for name, value in api_pdu.get_varbinds(pdu)
        )
        if trap:
            return _rfc3584(version, community, pdu, varbinds)
        fields = tuple(int(pdu.getComponentByPosition(i)) for i in range(3))
    except AssertionError:
        raise
    except Exception as exc:  # pyasn1 raises many kinds; any of them is a refusal here
        return Rejected(f"{type(exc).__name__}: {exc}"[:200])
    return View(version, community, pdu_type, fields, varbinds)


SYS_UPTIME_0 = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0 = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ENTERPRISE_0 = (1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0)
SNMP_TRAP_ADDRESS_0 = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)


def _rfc3584(
    version: int, community: bytes, pdu: Any, varbinds: tuple[Any, ...]
) -> View | Rejected:
    """A v1 Trap-PDU as pyasn1 reads it, converted here to the SNMPv2 form (RFC 3584 3.1),
    written apart from shared.ber so that its conversion is checked, not repeated."""
    enterprise = tuple(pdu["enterprise"])
    address = ".".join(map(str, pdu["agent-addr"].getComponent().asOctets()))
    generic, specific = int(pdu["generic-trap"]), int(pdu["specific-trap"])
    stamp = int(pdu["time-stamp"])
    if not 0 <= generic <= 6:
        return Rejected("generic-trap outside RFC 1157's seven values")
    trap_oid = (
        (1, 3, 6, 1, 6, 3, 1, 1, 5, generic + 1) if generic < 6 else (*enterprise, 0, specific)
    )
    names = {name for name, _ in varbinds}
    converted = [(SYS_UPTIME_0, (0x43, stamp)), (SNMP_TRAP_OID_0, (0x06, trap_oid)), *varbinds]
    if SNMP_TRAP_ADDRESS_0 not in names:
        converted.append((SNMP_TRAP_ADDRESS_0, (0x40, address)))
    if SNMP_TRAP_ENTERPRISE_0 not in names:
        converted.append((SNMP_TRAP_ENTERPRISE_0, (0x06, enterprise)))
    return View(version, community, ber.PDU_TRAP_V1, (trap_oid, address, stamp), tuple(converted))


_TYPED_TAGS: dict[type, int] = {
    ber.Counter32: 0x41,
    ber.Gauge32: 0x42,
    ber.TimeTicks: 0x43,
    ber.Counter64: 0x46,
    ber.IpAddress: 0x40,
    str: 0x40,  # a plain decode gives IpAddress as str
    ber.Opaque: 0x44,
    int: 0x02,
    bytes: 0x04,
    tuple: 0x06,
    type(None): 0x05,
}


def our_tagged(value: ber.ResponseValue) -> Tagged:
    """(tag, plain value) of one value from a typed decode."""
    if isinstance(value, ber.ExceptionValue):
        return value.value, None
    tag = _TYPED_TAGS[type(value)]
    if tag in (0x41, 0x42, 0x43, 0x46):
        return tag, int(value)  # type: ignore[arg-type]
    if tag == 0x40:
        return tag, str(value)
    if tag == 0x44:
        return tag, bytes(value)  # type: ignore[arg-type]
    return tag, value


def our_view(data: bytes) -> View | Rejected:
    """Decode with shared.ber, unguarded (an escape other than BerDecodeError propagates)."""
    try:
        if len(data) > 1 and _pdu_tag(data) == ber.PDU_TRAP_V1:
            return _our_v1_trap(data)
        got = ber._decode_pdu_message(data, typed=True)
    except BerDecodeError as exc:
        return Rejected(str(exc))
    pdu = got.pdu
    return View(
        got.version,
        got.community,
        pdu.pdu_type,
        (pdu.request_id, pdu.error_status, pdu.error_index),
        tuple((oid, our_tagged(v)) for oid, v in pdu.varbinds),
    )


def _pdu_tag(data: bytes) -> int | None:
    """The PDU tag if the wrapper parses (cheaply: only to route the v1 Trap-PDU)."""
    try:
        _, _, _, pdu_type, _, _ = ber._message_header(data)
    except BerDecodeError:
        return None
    return pdu_type


def _our_v1_trap(data: bytes) -> View:
    msg = ber._decode_message(data, typed=True)
    return View(
        msg.version,
        msg.community,
        ber.PDU_TRAP_V1,
        (msg.trap_oid, msg.agent_address, msg.uptime),
        tuple((oid, our_tagged(v)) for oid, v in msg.varbinds),
    )

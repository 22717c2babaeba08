"""SMIv2 value types, their BER tags and ranges, and the PDU and header fields of SNMP.

One table per protocol fact: the BER decoder (``shared.ber``) and encoder
(``shared.ber_encode``) both check values against ``INTEGER_TYPES`` and the PDU field bounds
here, so what we send and what we accept cannot drift apart.

Sources: RFC 2578 section 7 (ranges of the SMI types, OIDs of at most 128 sub-identifiers of
at most 2^32-1 each), RFC 3416 section 3 (PDUs: request-id is Integer32, error-index,
non-repeaters and max-repetitions are INTEGER (0..max-bindings)), RFC 1157 (Trap-PDU),
RFC 3412 section 6 and RFC 3414 section 2.4 (the SNMPv3 header and USM parameters), X.690
8.19 (the first two OID arcs share one sub-identifier).
"""

from __future__ import annotations

import enum
from typing import Final, TypeAlias

Oid: TypeAlias = tuple[int, ...]

VERSION_V1: Final = 0
VERSION_V2C: Final = 1
VERSION_V3: Final = 3

PDU_GET: Final = 0xA0
PDU_GETNEXT: Final = 0xA1
PDU_RESPONSE: Final = 0xA2
PDU_SET: Final = 0xA3
PDU_TRAP_V1: Final = 0xA4
PDU_GETBULK: Final = 0xA5
PDU_INFORM: Final = 0xA6
PDU_TRAP_V2: Final = 0xA7
PDU_REPORT: Final = 0xA8

# Every PDU that has the RFC 3416 "PDU" / "BulkPDU" shape (all but the v1 Trap-PDU), and the
# subset a v1 message may carry (RFC 1157; RFC 3584 section 2.1).
V2_SHAPED_PDUS: Final = frozenset(
    {PDU_GET, PDU_GETNEXT, PDU_RESPONSE, PDU_SET, PDU_GETBULK, PDU_INFORM, PDU_TRAP_V2, PDU_REPORT}
)
V1_PDUS: Final = frozenset({PDU_GET, PDU_GETNEXT, PDU_RESPONSE, PDU_SET, PDU_TRAP_V1})
PDU_NAMES: Final = {
    PDU_GET: "GetRequest",
    PDU_GETNEXT: "GetNextRequest",
    PDU_RESPONSE: "Response",
    PDU_SET: "SetRequest",
    PDU_TRAP_V1: "Trap",
    PDU_GETBULK: "GetBulkRequest",
    PDU_INFORM: "InformRequest",
    PDU_TRAP_V2: "SNMPv2-Trap",
    PDU_REPORT: "Report",
}

# The varbinds every notification starts with (RFC 3416 4.2.6), and those RFC 3584 3.1
# appends when it turns a v1 Trap-PDU into the v2 form.
SYS_UPTIME_0: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ENTERPRISE_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0)
SNMP_TRAP_ADDRESS_0: Final[Oid] = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)
SNMP_TRAPS: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 5)  # snmpTraps: the generic traps' OIDs

TAG_SEQUENCE: Final = 0x30
TAG_INTEGER: Final = 0x02
TAG_OCTETS: Final = 0x04
TAG_NULL: Final = 0x05
TAG_OID: Final = 0x06
TAG_IPADDRESS: Final = 0x40
TAG_COUNTER32: Final = 0x41
TAG_GAUGE32: Final = 0x42  # also Unsigned32 (RFC 2578 7.1.11: same tag, same range)
TAG_TIMETICKS: Final = 0x43
TAG_OPAQUE: Final = 0x44
TAG_COUNTER64: Final = 0x46
TAG_NO_SUCH_OBJECT: Final = 0x80
TAG_NO_SUCH_INSTANCE: Final = 0x81
TAG_END_OF_MIB_VIEW: Final = 0x82

MAX_INT32: Final = 2**31 - 1
MIN_INT32: Final = -(2**31)
MAX_UINT32: Final = 2**32 - 1
MAX_UINT64: Final = 2**64 - 1
MAX_BINDINGS: Final = MAX_INT32  # RFC 3416 max-bindings
MAX_OID_ARCS: Final = 128
MAX_SUBID: Final = MAX_UINT32
MAX_OCTETS: Final = 65535  # OCTET STRING (SIZE (0..65535)), RFC 2578 7.1.2


class IntegerType:
    """One integer-valued SMI type: its name (for messages) and its inclusive range."""

    __slots__ = ("high", "low", "name", "signed", "text")

    def __init__(self, name: str, low: int, high: int, text: str, *, signed: bool = True) -> None:
        self.name = name
        self.low = low
        self.high = high
        self.text = text  # the range as RFC 2578 writes it, for messages
        # How the decoder reads the octets: two's complement (every INTEGER-tagged field), or
        # as an unsigned number (the unsigned application types, see shared.ber).
        self.signed = signed

    def out_of_range(self, value: int) -> str:
        """The error message for a value outside the range; it never contains the value."""
        side = "below" if value < self.low else "above"
        return f"{self.name} value {side} its range {self.text}"


INTEGER32: Final = IntegerType("Integer32", MIN_INT32, MAX_INT32, "-2^31..2^31-1")
COUNTER32: Final = IntegerType("Counter32", 0, MAX_UINT32, "0..2^32-1", signed=False)
GAUGE32: Final = IntegerType("Gauge32", 0, MAX_UINT32, "0..2^32-1", signed=False)
TIMETICKS: Final = IntegerType("TimeTicks", 0, MAX_UINT32, "0..2^32-1", signed=False)
COUNTER64: Final = IntegerType("Counter64", 0, MAX_UINT64, "0..2^64-1", signed=False)

# Value tag -> type, for every integer-valued SMI type.
INTEGER_TYPES: Final[dict[int, IntegerType]] = {
    TAG_INTEGER: INTEGER32,
    TAG_COUNTER32: COUNTER32,
    TAG_GAUGE32: GAUGE32,
    TAG_TIMETICKS: TIMETICKS,
    TAG_COUNTER64: COUNTER64,
}
UNSIGNED_TAGS: Final = frozenset({TAG_COUNTER32, TAG_GAUGE32, TAG_TIMETICKS, TAG_COUNTER64})

# PDU fields that are integers, with their RFC 3416 / RFC 1157 ranges. error-status is an
# INTEGER with named numbers, which do not constrain it (X.680 19.3): an agent's unknown status
# is still reported as an error, but it must fit the 32 bits every SNMP INTEGER has.
REQUEST_ID: Final = IntegerType("request-id", MIN_INT32, MAX_INT32, "-2^31..2^31-1")
ERROR_STATUS: Final = IntegerType("error-status", MIN_INT32, MAX_INT32, "-2^31..2^31-1")
ERROR_INDEX: Final = IntegerType("error-index", 0, MAX_BINDINGS, "0..max-bindings")
NON_REPEATERS: Final = IntegerType("non-repeaters", 0, MAX_BINDINGS, "0..max-bindings")
MAX_REPETITIONS: Final = IntegerType("max-repetitions", 0, MAX_BINDINGS, "0..max-bindings")
GENERIC_TRAP: Final = IntegerType("generic-trap", 0, 6, "0..6")
# RFC 1157 leaves specific-trap an INTEGER, but RFC 3584 3.1 makes it the last arc of
# snmpTrapOID, and an OID arc is never negative.
SPECIFIC_TRAP: Final = IntegerType("specific-trap", 0, MAX_INT32, "0..2^31-1")
# SNMPv3 header fields (RFC 3412 section 6; msgSecurityModel 0 is reserved but still read).
# msgMaxSize below 484 means the datagram is not an SNMPv3Message at all (RFC 3412 7.2 step
# 2): net-snmp and pysnmp discard it too, so no sender that works with them sends one.
MSG_ID: Final = IntegerType("msgID", 0, MAX_INT32, "0..2^31-1")
MSG_MAX_SIZE: Final = IntegerType("msgMaxSize", 484, MAX_INT32, "484..2^31-1")
MSG_SECURITY_MODEL: Final = IntegerType("msgSecurityModel", 0, MAX_INT32, "0..2^31-1")
# UsmSecurityParameters (RFC 3414 section 2.4).
ENGINE_BOOTS: Final = IntegerType("msgAuthoritativeEngineBoots", 0, MAX_INT32, "0..2^31-1")
ENGINE_TIME: Final = IntegerType("msgAuthoritativeEngineTime", 0, MAX_INT32, "0..2^31-1")


class ExceptionValue(enum.Enum):
    """RFC 3416 varbind exceptions of a Response-PDU.

    A Response keeps them apart from NULL and from each other because a walk must stop on
    endOfMibView while a GET reports noSuchObject/noSuchInstance as "not there".
    """

    NO_SUCH_OBJECT = TAG_NO_SUCH_OBJECT
    NO_SUCH_INSTANCE = TAG_NO_SUCH_INSTANCE
    END_OF_MIB_VIEW = TAG_END_OF_MIB_VIEW


NO_SUCH_OBJECT: Final = ExceptionValue.NO_SUCH_OBJECT
NO_SUCH_INSTANCE: Final = ExceptionValue.NO_SUCH_INSTANCE
END_OF_MIB_VIEW: Final = ExceptionValue.END_OF_MIB_VIEW


# Typed values: the fast decoders return plain ints/bytes/str, but a sender must say which SMI
# type it means, so these thin subclasses carry the tag (and the typed decoders return them).
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


# Plain values: int is Integer32, bytes OCTET STRING, Oid OBJECT IDENTIFIER, str IpAddress
# (dotted quad) when decoded, None NULL.
Value: TypeAlias = int | bytes | Oid | str | None
VarBind: TypeAlias = tuple[Oid, Value]
ResponseValue: TypeAlias = Value | ExceptionValue
ResponseVarBind: TypeAlias = tuple[Oid, ResponseValue]

TYPED_CLASSES: Final[dict[int, type[int]]] = {
    TAG_COUNTER32: Counter32,
    TAG_GAUGE32: Gauge32,
    TAG_TIMETICKS: TimeTicks,
    TAG_COUNTER64: Counter64,
}


def check_oid(oid: Oid) -> str | None:
    """Why ``oid`` cannot be sent (RFC 2578 7.1.3, X.690 8.19), or None if it can."""
    if not 2 <= len(oid) <= MAX_OID_ARCS:
        return "OID must have 2..128 arcs"
    first, second = oid[0], oid[1]
    if not 0 <= first <= 2:
        return "OID first arc must be 0, 1 or 2"
    if second < 0 or (first < 2 and second >= 40):
        return "OID second arc must be 0..39 under arcs 0 and 1"
    # The first two arcs share one sub-identifier, which must fit 32 bits like every other.
    if first * 40 + second > MAX_SUBID:
        return "OID arc above 2^32-1"
    for arc in oid[2:]:
        if not 0 <= arc <= MAX_SUBID:
            return "OID arc out of range 0..2^32-1"
    return None

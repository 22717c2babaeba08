"""pyasn1/pysnmp values -> plain Python values, cheaply.

The converter is picked by the value's exact class (one dict lookup per varbind); a class seen
for the first time is classified once with isinstance() and remembered. prettyPrint() is never
used: it is slow and decodes bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1902

from .types import Oid, SnmpValue

_Converter = Callable[[Any], SnmpValue]


def _to_none(_value: Any) -> SnmpValue:
    return None


def _to_int(value: Any) -> SnmpValue:
    return int(value)


def _to_bytes(value: Any) -> SnmpValue:
    return value.asOctets()  # type: ignore[no-any-return]


def _to_oid(value: Any) -> SnmpValue:
    return value.asTuple()  # type: ignore[no-any-return]


def _to_ip(value: Any) -> SnmpValue:
    octets = value.asOctets()
    if len(octets) != 4:  # a malformed IpAddress is still data: keep it raw
        return bytes(octets)
    return ".".join(map(str, octets))


def _classify(cls: type) -> _Converter:
    # Order matters: noSuchObject & co. subclass Null, which subclasses OctetString, and
    # IpAddress subclasses OctetString too.
    if issubclass(cls, univ.Null):
        return _to_none
    if issubclass(cls, univ.ObjectIdentifier):
        return _to_oid
    if issubclass(cls, rfc1902.IpAddress):
        return _to_ip
    if issubclass(cls, univ.Integer):
        return _to_int
    if issubclass(cls, univ.OctetString):
        return _to_bytes
    raise TypeError(f"unsupported SNMP value type {cls.__name__}")


_CONVERTERS: dict[type, _Converter] = {}


def to_python(value: Any) -> SnmpValue:
    """Convert one pysnmp value; raises TypeError for a type SNMP does not define."""
    cls = type(value)
    try:
        convert = _CONVERTERS[cls]
    except KeyError:
        convert = _CONVERTERS[cls] = _classify(cls)
    return convert(value)


def name_to_oid(name: Any) -> Oid:
    return name.asTuple()  # type: ignore[no-any-return]


def is_end_marker(value: Any) -> bool:
    """True for endOfMibView / noSuchObject / noSuchInstance / NULL (no data, stop here)."""
    return isinstance(value, univ.Null)

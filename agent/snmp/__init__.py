"""The SNMP adapter: pysnmp stays behind this package; our types and errors come out."""

from .client import SnmpClient
from .types import Oid, SnmpTarget, SnmpValue, format_oid, parse_oid

__all__ = ["Oid", "SnmpClient", "SnmpTarget", "SnmpValue", "format_oid", "parse_oid"]

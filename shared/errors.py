"""One root exception for emspool; adapters map third-party errors onto these."""

from __future__ import annotations


class EmspoolError(Exception):
    """Root of every error emspool raises on purpose."""


class ConfigError(EmspoolError):
    """A configuration file or value is invalid; the message says where and why."""


class SnmpError(EmspoolError):
    """An SNMP operation failed."""


class SnmpTimeout(SnmpError):
    """The NE did not answer within timeout x retries."""


class SnmpAuthError(SnmpError):
    """The NE rejected our credentials (v3 USM report, wrong community)."""


class SnmpProtocolError(SnmpError):
    """The NE answered with an error status or a malformed/truncated response."""


class BerDecodeError(EmspoolError):
    """A datagram is not valid BER / not an SNMP message we accept."""


class DatabaseError(EmspoolError):
    """The database is unreachable or refused an operation."""


class NotFound(EmspoolError):
    """A requested object (NE, alarm, profile) does not exist."""


class LabError(EmspoolError):
    """The simulator lab could not do what was asked."""


class Expired(EmspoolError):
    """A paged answer's snapshot is no longer kept (or never was, here): start again."""

"""What a failed SNMP request means to the caller: one of our SnmpError kinds, never a key.

One job, for every request path (native v1/v2c and v3, pysnmp): RFC 3416 error-status
names, the USM reports that mean wrong credentials, and the timeout message.
"""

from __future__ import annotations

from shared.errors import SnmpAuthError, SnmpProtocolError, SnmpTimeout

from .types import SnmpTarget

# RFC 3416 error-status names, for messages.
ERROR_STATUS = (
    "noError",
    "tooBig",
    "noSuchName",
    "badValue",
    "readOnly",
    "genErr",
    "noAccess",
    "wrongType",
    "wrongLength",
    "wrongEncoding",
    "wrongValue",
    "noCreation",
    "inconsistentValue",
    "resourceUnavailable",
    "commitFailed",
    "undoFailed",
    "authorizationError",
    "notWritable",
    "inconsistentName",
)
TOO_BIG = 1
NO_SUCH_NAME = 2

# Reports of the native v3 path that mean "your credentials are wrong" (see usm.REPORT_NAMES).
AUTH_REPORTS = frozenset(
    {
        "unsupportedSecurityLevel",
        "notInTimeWindow",
        "unknownUserName",
        "unknownEngineID",
        "wrongDigest",
        "decryptionError",
    }
)


def timeout_error(target: SnmpTarget, note: str = "") -> SnmpTimeout:
    return SnmpTimeout(
        f"{target.where}: no response within {target.timeout:g} s x "
        f"{target.retries + 1} attempts" + (f" ({note})" if note else "")
    )


def status_error(target: SnmpTarget, status: int, index: int) -> SnmpProtocolError:
    name = ERROR_STATUS[status] if 0 <= status < len(ERROR_STATUS) else str(status)
    return SnmpProtocolError(f"{target.where}: agent returned {name} at varbind {index}")


def report_error(target: SnmpTarget, name: str) -> SnmpAuthError | SnmpProtocolError:
    """An authenticated Report ended the request. Report names are fixed USM counter
    names; they never carry a key."""
    if name in AUTH_REPORTS:
        return SnmpAuthError(f"{target.where}: {name}")
    return SnmpProtocolError(f"{target.where}: agent reported {name}")

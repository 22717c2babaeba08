"""The NETCONF adapter: ncclient stays behind this package; our types and errors come out."""

from .client import NetconfClient
from .errors import (
    HostileXmlError,
    HostKeyError,
    NetconfAuthError,
    NetconfError,
    NetconfProtocolError,
    NetconfTimeout,
)
from .types import NetconfTarget

__all__ = [
    "HostKeyError",
    "HostileXmlError",
    "NetconfAuthError",
    "NetconfClient",
    "NetconfError",
    "NetconfProtocolError",
    "NetconfTarget",
    "NetconfTimeout",
]

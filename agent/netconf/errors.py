"""Errors of the NETCONF adapter. They live here rather than in shared/errors.py so two
engineers do not edit that file at once; all derive from the one root, EmspoolError."""

from __future__ import annotations

from shared.errors import EmspoolError


class NetconfError(EmspoolError):
    """A NETCONF operation failed (transport, session or protocol)."""


class NetconfTimeout(NetconfError):
    """The NE did not answer (connect, hello or RPC reply) within the target's timeout."""


class NetconfAuthError(NetconfError):
    """The NE rejected our username/password or key."""


class HostKeyError(NetconfError):
    """The NE's SSH host key is unknown or differs from the pinned/known one: nothing was sent."""


class NetconfProtocolError(NetconfError):
    """The NE answered with an <rpc-error> or a reply we cannot use."""


class HostileXmlError(NetconfProtocolError):
    """A message carried a DTD/entities, nested too deep or exceeded the size cap."""

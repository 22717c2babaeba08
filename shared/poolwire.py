"""The pool's own messages on the bus (election, assignment, forwarded traps): typed,
validated structs (msgspec) carried in the ``args`` of a bus request.

A peer's message is checked field by field before any state machine sees it: a wrong type,
a missing field, a negative epoch or an oversized table is a WireError, counted and dropped
by the bus, never half-applied.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from .election import Kind, Message
from .errors import EmspoolError

NodeId = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
NeName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Epoch = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
MAX_TABLE = 1_000_000  # NEs in one assignment announcement


class PoolWireError(EmspoolError):
    """A pool message that does not have the shape its type requires."""


class ElectionMsg(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: Kind
    sender: NodeId
    priority: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
    epoch: Epoch
    master: Annotated[str, msgspec.Meta(max_length=100)] = ""

    def to_message(self) -> Message:
        return Message(self.kind, self.sender, self.priority, self.epoch, self.master)

    @classmethod
    def of(cls, m: Message) -> ElectionMsg:
        return cls(m.kind, m.sender, m.priority, m.epoch, m.master)


class AssignmentNotice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The master's table: every NE and the node that manages it, at (epoch, version)."""

    master: NodeId
    epoch: Epoch
    version: Annotated[int, msgspec.Meta(ge=0)]
    owners: Annotated[dict[NeName, NodeId], msgspec.Meta(max_length=MAX_TABLE)]


class ForwardedTrap(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A trap or inform from a pool NE that reached an agent that does not manage it."""

    ne: NeName
    via: NodeId
    source: tuple[str, int]
    version: Annotated[str, msgspec.Meta(pattern="^(1|2c|3)$")]
    trap_oid: tuple[int, ...]
    uptime: int | None
    # (OID, value): value as JSON can carry it; bytes travel as {"hex": "..."}
    varbinds: list[tuple[tuple[int, ...], Any]]
    received: float


def to_args(struct: msgspec.Struct) -> dict[str, Any]:
    """A struct as the plain dict a bus request carries."""
    out: dict[str, Any] = msgspec.to_builtins(struct)
    return out


def from_args(args: Any, kind: type[msgspec.Struct]) -> Any:
    """Validate a bus request's ``args`` as ``kind``; PoolWireError names the problem."""
    try:
        return msgspec.convert(args, kind)
    except msgspec.ValidationError as e:
        raise PoolWireError(f"{kind.__name__}: {e}") from None


def encode_value(v: object) -> object:
    """A varbind value in JSON form (bytes are not JSON: they travel as hex)."""
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, tuple):
        return list(v)
    return v


def decode_value(v: object) -> object:
    if isinstance(v, dict) and set(v) == {"hex"} and isinstance(v["hex"], str):
        try:
            return bytes.fromhex(v["hex"])
        except ValueError:
            raise PoolWireError("forwarded varbind: bad hex") from None
    if isinstance(v, list) and all(isinstance(x, int) for x in v):
        return tuple(v)
    if v is None or isinstance(v, int | str):
        return v
    raise PoolWireError("forwarded varbind: unsupported value")

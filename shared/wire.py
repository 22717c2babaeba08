"""Request/reply envelopes and published events on the agents' bus (JSON over ZeroMQ).

Request:  {"v": 1, "id": str, "op": str, "args": {...}}   (+ "oneway": true: no reply)
Reply:    {"v": 1, "id": str, "ok": true, "result": ...}
          {"v": 1, "id": str, "ok": false, "error": {"code": str, "message": str}}
Publish:  two frames: topic (ascii) and a JSON body.

Encoded and parsed with msgspec (3-4 times json's speed on large answers; the same JSON).
A reply's ``result`` may hold ``msgspec.Raw`` parts, JSON spliced in as it is: the
federating agent passes the members' alarms on without parsing them into objects.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .errors import EmspoolError

VERSION = 1
MAX_MESSAGE = 4 * 1024 * 1024


class WireError(EmspoolError):
    """A message on the bus is malformed or of an unknown version."""


class WireVersionError(WireError):
    """A well-formed message of a wire version this side does not speak."""


class ErrorCode:
    BAD_REQUEST = "bad-request"
    UNKNOWN_OP = "unknown-op"
    NOT_FOUND = "not-found"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    FORBIDDEN = "forbidden"  # the caller's key role does not allow the op
    BUSY = "busy"  # too many requests of this caller in flight: retry later
    TOO_LARGE = "too-large"  # a request or its reply above the bus's message size cap
    EXPIRED = "expired"  # a cursor of a paged answer whose snapshot is no longer kept


class KeyRole(enum.StrEnum):
    """What a bus key may do. A route names the least role it needs: ``viewer`` routes
    (queries) take every key, ``operator`` routes (acknowledge, inventory changes) take
    operator and agent keys, ``agent`` routes (election, assignment, fan-out) only agents."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    AGENT = "agent"

    def allows(self, needed: KeyRole) -> bool:
        return _ROLE_RANK[self] >= _ROLE_RANK[needed]


_ROLE_RANK = {KeyRole.VIEWER: 0, KeyRole.OPERATOR: 1, KeyRole.AGENT: 2}


class Topic:
    ALARM = "alarm"
    EVENT = "event"
    NE = "ne"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Request:
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    oneway: bool = False  # a notification (heartbeat, announcement): the server never replies

    def encode(self) -> bytes:
        body: dict[str, Any] = {"v": VERSION, "id": self.id, "op": self.op, "args": self.args}
        if self.oneway:
            body["oneway"] = True
        return _ENCODER.encode(body)

    @classmethod
    def decode(cls, data: bytes) -> Request:
        d = _load(data)
        op, args, rid = d.get("op"), d.get("args", {}), d.get("id")
        if not isinstance(op, str) or not isinstance(args, dict) or not isinstance(rid, str):
            raise WireError("request needs string 'op' and 'id' and an object 'args'")
        oneway = d.get("oneway", False)
        if not isinstance(oneway, bool):
            raise WireError("'oneway' must be true or false")
        return cls(op=op, args=args, id=rid, oneway=oneway)


@dataclass(frozen=True, slots=True)
class Reply:
    id: str
    ok: bool
    result: Any = None
    code: str = ""
    message: str = ""

    @classmethod
    def error(cls, rid: str, code: str, message: str) -> Reply:
        return cls(id=rid, ok=False, code=code, message=message)

    def encode(self) -> bytes:
        body: dict[str, Any] = {"v": VERSION, "id": self.id, "ok": self.ok}
        if self.ok:
            body["result"] = self.result
        else:
            body["error"] = {"code": self.code, "message": self.message}
        return _ENCODER.encode(body)

    @classmethod
    def decode(cls, data: bytes) -> Reply:
        return cls._of(_load(data))

    @classmethod
    def decode_lazy(cls, data: bytes) -> Reply:
        """A reply whose ``result`` stays unparsed (``msgspec.Raw``): for a caller that
        parses it with a type of its own, or passes it on as it is."""
        _check_size(data)
        try:
            env = msgspec.json.decode(data, type=_LazyReply)
        except msgspec.DecodeError as e:
            raise WireError(f"not a reply: {e}") from None
        if env.v not in (None, VERSION):
            raise WireVersionError(f"unsupported message version {env.v!r}")
        return cls._of({"id": env.id, "ok": env.ok, "result": env.result, "error": env.error})

    @classmethod
    def _of(cls, d: dict[str, Any]) -> Reply:
        rid, ok = d.get("id"), d.get("ok")
        if not isinstance(rid, str) or not isinstance(ok, bool):
            raise WireError("reply needs string 'id' and boolean 'ok'")
        if ok:
            return cls(id=rid, ok=True, result=d.get("result"))
        err = d.get("error") or {}
        return cls.error(rid, str(err.get("code", ErrorCode.INTERNAL)), str(err.get("message")))


# Request.encode and Reply.encode write the id second, after the version: an oversize
# message's id is read from its first bytes without parsing the whole of it.
_ID = re.compile(rb'^\{"v": ?\d+, ?"id": ?"([0-9A-Za-z_.:-]{1,64})"')


def peek_id(data: bytes) -> str:
    """The id of a message too large to parse, so that a refusal reaches its sender."""
    found = _ID.match(data[:128])
    return found.group(1).decode("ascii") if found else ""


def encode_publish(topic: str, body: dict[str, Any]) -> list[bytes]:
    return [topic.encode(), _ENCODER.encode(body)]


def decode_publish(frames: list[bytes]) -> tuple[str, dict[str, Any]]:
    if len(frames) != 2:
        raise WireError(f"published message must have 2 frames, got {len(frames)}")
    body = _load(frames[1])
    return frames[0].decode("ascii", "replace"), body


def parse_result(raw: msgspec.Raw) -> Any:
    """The value of a lazily decoded reply's ``result``."""
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise WireError(f"not JSON: {e}") from None


class _LazyReply(msgspec.Struct):
    id: Any = None
    ok: Any = None
    v: Any = None
    result: msgspec.Raw = msgspec.Raw(b"null")
    error: Any = None


# Values JSON has no type for go as their str(), as json.dumps(default=str) did.
_ENCODER = msgspec.json.Encoder(enc_hook=str)


def _check_size(data: bytes) -> None:
    if len(data) > MAX_MESSAGE:
        raise WireError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")


def _load(data: bytes) -> dict[str, Any]:
    _check_size(data)
    try:
        d = msgspec.json.decode(data)
    except msgspec.DecodeError as e:
        raise WireError(f"not JSON: {e}") from None
    if not isinstance(d, dict):
        raise WireError("message must be a JSON object")
    if d.get("v") not in (None, VERSION):
        raise WireVersionError(f"unsupported message version {d.get('v')!r}")
    return d

"""The agent's ZeroMQ endpoints: a ROUTER for requests and a PUB for live events.

Secured by default: both sockets are CURVE servers with this agent's key pair, and a ZAP
handler (agent/busauth.py) admits only allow-listed client keys; ``bind`` starts ZAP
before either socket listens, so no connection is ever accepted unauthenticated. Each
request is checked before a handler sees it: size, shape, wire version, the caller's
role against the route's, and the caller's requests in flight. Every rejection is
answered (unless the request was one-way) and counted by reason in ``stats``.

Requests are served one at a time per message but never block the loop: handlers are
coroutines and a slow handler only delays its own reply. A handler learns who called
through ``agent.busauth.current_caller()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.asyncio

from agent.busauth import (
    INSECURE,
    ZAP_DOMAIN,
    AllowList,
    Caller,
    Recheck,
    ZapGuard,
    set_caller,
)
from agent.busmonitor import HandshakeCounter
from agent.keys import KeyPair
from shared.errors import EmspoolError, Expired, NotFound
from shared.wire import (
    MAX_MESSAGE,
    ErrorCode,
    KeyRole,
    Reply,
    Request,
    WireError,
    WireVersionError,
    encode_publish,
    peek_id,
)

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

MAX_IN_FLIGHT = 64  # requests of one caller being answered at once; more are told "busy"
REJECTIONS = (
    "oversize",
    "malformed",
    "version",
    "forbidden",
    "revoked",
    "busy",
    "unknown_key",
    "handshake",
    "garbage",
    "oversize_reply",  # a handler's answer above the cap: the caller is told too-large
)


class Bus:
    def __init__(
        self,
        router_endpoint: str,
        pub_endpoint: str,
        *,
        keypair: KeyPair | None = None,
        allow: AllowList | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_message: int = MAX_MESSAGE,
        recheck: Recheck | None = None,
    ) -> None:
        """Sockets are made here and listen only from ``bind``. Without ``keypair`` the bus
        is plain (an explicitly insecure lab): nobody is authenticated, every caller may
        do everything."""
        self.handlers: dict[str, Handler] = {}
        self.roles: dict[str, KeyRole] = {}  # op -> the least key role allowed to call it
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "notifications", "errors", "internal_errors", "published", "dropped"),
            0,
        )
        self.stats.update({f"rejected_{r}": 0 for r in REJECTIONS})
        self.secure = keypair is not None
        self.public_key = keypair.public if keypair is not None else ""  # clients expect it
        self.allow = allow if allow is not None else AllowList()
        self.max_in_flight = max_in_flight
        self.max_message = max_message
        self.router_endpoint = router_endpoint
        self.pub_endpoint = pub_endpoint
        self._in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.ctx = zmq.asyncio.Context()
        self._zap = ZapGuard(self.ctx, self.allow, self.stats, recheck) if self.secure else None
        self.router = self.ctx.socket(zmq.ROUTER)
        self.pub = self.ctx.socket(zmq.PUB)
        for s in (self.router, self.pub):
            s.setsockopt(zmq.LINGER, 0)
            # Above this libzmq drops the connection; between max_message and it the
            # request is read, answered "too-large" and counted.
            s.setsockopt(zmq.MAXMSGSIZE, 2 * max_message)
            if keypair is not None:
                s.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN.encode())
                s.curve_secretkey = keypair.secret.encode("ascii")
                s.curve_publickey = keypair.public.encode("ascii")
                s.curve_server = True
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._handshakes: HandshakeCounter | None = None
        # A console that goes away must not make the PUB queue grow without bound.
        self.pub.setsockopt(zmq.SNDHWM, 100_000)

    def bind(self) -> None:
        """Start ZAP (secure bus), then listen on both endpoints."""
        try:
            if self._zap is not None:
                self._zap.start()
            self._handshakes = HandshakeCounter(self.router, self.stats)
            self.router_endpoint = self._bind(self.router, self.router_endpoint, "bus.router")
            self.pub_endpoint = self._bind(self.pub, self.pub_endpoint, "bus.pub")
        except BaseException:
            self._close_sockets()  # a half-built bus must not keep the other port bound
            raise

    @staticmethod
    def _bind(sock: zmq.asyncio.Socket, endpoint: str, key: str) -> str:
        # tcp://host:0 binds a free port; report the real one.
        try:
            if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
                sock.bind(endpoint[:-2] + ":*")
            else:
                sock.bind(endpoint)
        except zmq.ZMQError as e:
            raise EmspoolError(f"{key}: cannot listen on {endpoint}: {e.strerror}") from None
        last = sock.getsockopt(zmq.LAST_ENDPOINT)
        return last.decode() if isinstance(last, bytes) else str(last)

    def route(self, op: str, handler: Handler, *, role: KeyRole = KeyRole.VIEWER) -> None:
        self.handlers[op] = handler
        self.roles[op] = role

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        if self._closed:  # shutting down: the event still reaches the log via the outbox
            self.stats["dropped"] += 1
            return
        try:
            self.pub.send_multipart(encode_publish(topic, body), flags=zmq.NOBLOCK)
            self.stats["published"] += 1
        except zmq.Again:
            self.stats["dropped"] += 1

    async def serve(self) -> None:
        watch = asyncio.create_task(self._handshakes.run()) if self._handshakes else None
        try:
            while True:
                frames = await self.router.recv_multipart(copy=False)
                self._take(frames)
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch

    def _take(self, frames: list[zmq.Frame]) -> None:
        peer = frames[0].bytes
        # A DEALER sends [b"", request]; a REQ-less DEALER may send [request].
        body = frames[1:]
        if len(body) == 2 and len(body[0]) == 0:
            body = body[1:]
        self.stats["requests"] += 1
        if len(body) != 1:
            self._reject(peer, "malformed", "", ErrorCode.BAD_REQUEST, "expected one frame")
            return
        frame = body[0]
        if len(frame) > self.max_message:
            self._reject(
                peer,
                "oversize",
                peek_id(bytes(frame.buffer[:128])),
                ErrorCode.TOO_LARGE,
                f"request of {len(frame)} bytes exceeds {self.max_message}",
            )
            return
        data = frame.bytes
        try:
            req = Request.decode(data)
        except WireVersionError as e:
            self._reject(peer, "version", _request_id(data), ErrorCode.BAD_REQUEST, str(e))
            return
        except WireError as e:
            self._reject(peer, "malformed", _request_id(data), ErrorCode.BAD_REQUEST, str(e))
            return
        caller = self._caller(frame)
        if caller is None:  # its key was revoked after it connected
            self._reject(
                peer, "revoked", req.id, ErrorCode.FORBIDDEN, "key not allowed", oneway=req.oneway
            )
            return
        needed = self.roles.get(req.op)
        if needed is not None and not caller.role.allows(needed):
            self._reject(
                peer,
                "forbidden",
                req.id,
                ErrorCode.FORBIDDEN,
                f"{req.op!r} needs a key of role {needed.value} or higher; {caller.name!r} "
                f"is {caller.role.value}",
                oneway=req.oneway,
            )
            return
        who = caller.name if caller.authenticated else peer.hex()
        if self._in_flight.get(who, 0) >= self.max_in_flight:
            self._reject(
                peer,
                "busy",
                req.id,
                ErrorCode.BUSY,
                f"{self.max_in_flight} requests already in progress",
                oneway=req.oneway,
            )
            return
        self._in_flight[who] = self._in_flight.get(who, 0) + 1
        task = asyncio.create_task(self._answer(peer, req, caller, who))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _done(self, who: str) -> None:
        left = self._in_flight.get(who, 1) - 1
        if left > 0:
            self._in_flight[who] = left
        else:
            self._in_flight.pop(who, None)

    def _caller(self, frame: zmq.Frame) -> Caller | None:
        if not self.secure:
            return INSECURE
        try:
            key = frame.get("User-Id")
        except zmq.ZMQError:
            return None
        return self.allow.get(str(key))

    def _reject(
        self, peer: bytes, reason: str, rid: str, code: str, message: str, oneway: bool = False
    ) -> None:
        self.stats[f"rejected_{reason}"] += 1
        self.stats["errors"] += 1
        log.debug("bus request rejected (%s): %s", reason, message)
        if not oneway:
            task = asyncio.create_task(self._send(peer, Reply.error(rid, code, message).encode()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, peer: bytes, req: Request, caller: Caller, who: str) -> None:
        set_caller(caller)  # this task's own context: handlers read it, nobody else
        try:
            reply = await self._handle(req)
        finally:
            self._done(who)  # before the reply leaves: the caller may send the next at once
        if req.oneway:
            self.stats["notifications"] += 1
            if not reply.ok:
                self.stats["errors"] += 1
            return  # a notification: the sender does not wait for an answer
        data = reply.encode()
        if len(data) > self.max_message:
            # Sent, the receiver's libzmq would drop it (or the connection) and the caller
            # would wait out its deadline: say so at once, under the request's id.
            self.stats["rejected_oversize_reply"] += 1
            message = (
                f"the answer to {req.op!r} is {len(data)} bytes, above the bus limit of "
                f"{self.max_message}: ask for less (a smaller page or a narrower filter)"
            )
            log.warning("bus reply refused: %s", message)
            reply = Reply.error(req.id, ErrorCode.TOO_LARGE, message)
            data = reply.encode()
        if not reply.ok:
            self.stats["errors"] += 1
        await self._send(peer, data)

    async def _handle(self, req: Request) -> Reply:
        handler = self.handlers.get(req.op)
        if handler is None:
            return Reply.error(req.id, ErrorCode.UNKNOWN_OP, f"unknown op {req.op!r}")
        try:
            return Reply(id=req.id, ok=True, result=await handler(req.args))
        except NotFound as e:
            return Reply.error(req.id, ErrorCode.NOT_FOUND, str(e))
        except Expired as e:
            return Reply.error(req.id, ErrorCode.EXPIRED, str(e))
        except (EmspoolError, ValueError, KeyError, TypeError) as e:
            return Reply.error(req.id, ErrorCode.BAD_REQUEST, str(e))
        except Exception as e:  # a handler bug must cost one reply, not the bus
            log.exception("handler %s failed", req.op)
            self.stats["internal_errors"] += 1
            return Reply.error(req.id, ErrorCode.INTERNAL, type(e).__name__)

    async def _send(self, peer: bytes, data: bytes) -> None:
        try:
            await self.router.send_multipart([peer, b"", data])
        except zmq.ZMQError as e:  # EHOSTUNREACH: the requester left (ROUTER_MANDATORY)
            log.debug("reply to a departed peer dropped: %s", e)

    async def aclose(self) -> None:
        """Cancel the requests in progress, wait for them, then release both ports."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._close_sockets()

    def _close_sockets(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._zap is not None:
            self._zap.stop()
        if self._handshakes is not None:
            self._handshakes.close()
        self.router.close(linger=0)
        self.pub.close(linger=0)
        self.ctx.term()


def _request_id(data: bytes) -> str:
    """The id of a request refused as malformed, when there is one to read, so that the
    sender can match the refusal to its request."""
    try:
        rid = json.loads(data).get("id", "")
    except (ValueError, AttributeError):
        return ""
    return rid if isinstance(rid, str) else ""

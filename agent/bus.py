"""The agent's ZeroMQ endpoints: a ROUTER for requests and a PUB for live events.

Requests are served one at a time per message but never block the loop:
handlers are coroutines and a slow handler only delays its own reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.asyncio

from shared.errors import EmspoolError, NotFound
from shared.wire import (
    MAX_MESSAGE,
    ErrorCode,
    KeyRole,
    Reply,
    Request,
    WireError,
    encode_publish,
)

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class Bus:
    def __init__(self, router_endpoint: str, pub_endpoint: str) -> None:
        self.handlers: dict[str, Handler] = {}
        self.roles: dict[str, KeyRole] = {}  # op -> the least key role allowed to call it
        self.stats = {"requests": 0, "notifications": 0, "errors": 0, "published": 0, "dropped": 0}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.ctx = zmq.asyncio.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.pub = self.ctx.socket(zmq.PUB)
        try:
            for s in (self.router, self.pub):
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
            self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            # A console that goes away must not make the PUB queue grow without bound.
            self.pub.setsockopt(zmq.SNDHWM, 100_000)
            self.router_endpoint = self._bind(self.router, router_endpoint, "bus.router")
            self.pub_endpoint = self._bind(self.pub, pub_endpoint, "bus.pub")
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
        while True:
            frames = await self.router.recv_multipart()
            if len(frames) < 2:
                continue
            task = asyncio.create_task(self._answer(frames[0], frames[-1]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, peer: bytes, data: bytes) -> None:
        self.stats["requests"] += 1
        try:
            req = Request.decode(data)
        except WireError as e:
            self.stats["errors"] += 1
            await self._send(peer, Reply.error("", ErrorCode.BAD_REQUEST, str(e)))
            return
        handler = self.handlers.get(req.op)
        if handler is None:
            reply = Reply.error(req.id, ErrorCode.UNKNOWN_OP, f"unknown op {req.op!r}")
        else:
            try:
                reply = Reply(id=req.id, ok=True, result=await handler(req.args))
            except NotFound as e:
                reply = Reply.error(req.id, ErrorCode.NOT_FOUND, str(e))
            except (EmspoolError, ValueError, KeyError, TypeError) as e:
                reply = Reply.error(req.id, ErrorCode.BAD_REQUEST, str(e))
            except Exception as e:  # a handler bug must cost one reply, not the bus
                log.exception("handler %s failed", req.op)
                reply = Reply.error(req.id, ErrorCode.INTERNAL, type(e).__name__)
        if not reply.ok:
            self.stats["errors"] += 1
        if req.oneway:
            self.stats["notifications"] += 1
            return  # a notification: the sender does not wait for an answer
        await self._send(peer, reply)

    async def _send(self, peer: bytes, reply: Reply) -> None:
        try:
            await self.router.send_multipart([peer, b"", reply.encode()])
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
        self._closed = True
        self.router.close(linger=0)
        self.pub.close(linger=0)
        self.ctx.term()

"""The one client of the agents' bus, with a sync face (``BusClient``: the CLI, tests,
scripts) and an async face (``AsyncBusClient``: the agents' fan-out, the Qt console).

Both hold a list of agent endpoints (each with the agent's CURVE public key), pick one at
random, keep one persistent DEALER to it, put a deadline on every request, and when the
agent does not answer in time close that socket (a fresh one next time: zguide's Lazy
Pirate) and move to another agent, each tried at most once per request. The endpoints
come from a list or from a callable re-read at every (re)connect, e.g. ``pool_endpoints``
(the ``agents`` rows of the pool database): a new agent is found without a restart.

Security: with a client key pair every connection is CURVE, and the agent's ZAP
handler admits it only if the key is allow-listed; an endpoint without a server key is a
plain connection (an insecure lab agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import recv_monitor_message

from agent.keys import KeyPair
from shared.errors import ConfigError, EmspoolError
from shared.wire import (
    MAX_MESSAGE,
    ErrorCode,
    Reply,
    Request,
    WireError,
    parse_result,
    peek_id,
)


class RequestFailed(EmspoolError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class TooLarge(RequestFailed):
    """The answer would exceed the bus's message cap: the agent said so instead of sending
    it (ask for a smaller page or a narrower filter)."""


def _failed(reply: Reply) -> RequestFailed:
    kind = TooLarge if reply.code == ErrorCode.TOO_LARGE else RequestFailed
    return kind(reply.code, reply.message)


def _decode(data: bytes, raw: bool = False) -> Reply:
    """A reply (with ``raw`` its result unparsed, ``msgspec.Raw``); one too large to read
    comes back as a too-large error of its own id (an agent of an older version may still
    send one) rather than being waited out."""
    try:
        return Reply.decode_lazy(data) if raw else Reply.decode(data)
    except WireError:
        if len(data) <= MAX_MESSAGE:
            raise
        message = f"an answer of {len(data)} bytes exceeds the bus limit of {MAX_MESSAGE}"
        return Reply.error(peek_id(data), ErrorCode.TOO_LARGE, message)


class Unreachable(EmspoolError):
    """No agent answered before the deadline."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str  # the agent's ROUTER, tcp://host:port
    server_key: str = ""  # its CURVE public key (Z85); empty: a plain (insecure) agent
    node: str = ""

    def __str__(self) -> str:
        return f"{self.node} ({self.address})" if self.node else self.address


Endpoints = Sequence[Endpoint] | Callable[[], Sequence[Endpoint]]


def pool_endpoints(db_url: str, only: Sequence[str] = ()) -> Callable[[], list[Endpoint]]:
    """The pool's agents as their ``agents`` rows advertise them (re-read at each call);
    ``only``: node ids or endpoint addresses to keep."""
    from agent.db import Database  # SQLAlchemy only for clients that find agents this way
    from agent.pooldb import PoolDb

    pool = PoolDb(Database.open(db_url))

    def read() -> list[Endpoint]:
        rows = [r for r in pool.members() if r.endpoint]
        if only:
            rows = [r for r in rows if r.node_id in only or r.endpoint in only]
        return [Endpoint(r.endpoint, r.public_key, r.node_id) for r in rows]

    return read


class _Rotation:
    """Which endpoint next: random first, then the others of the list in random order."""

    def __init__(self, endpoints: Endpoints) -> None:
        self._source = endpoints

    def order(self, current: Endpoint | None) -> list[Endpoint]:
        eps = list(self._source() if callable(self._source) else self._source)
        if not eps:
            raise Unreachable("no agent endpoint known (is an agent running on this pool?)")
        random.shuffle(eps)
        if current is not None and current in eps:  # keep a working connection first
            eps.remove(current)
            eps.insert(0, current)
        return eps


def _setup(sock: zmq.Socket[Any], ep: Endpoint, key: KeyPair | None) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, 2 * MAX_MESSAGE)
    if ep.server_key:
        if key is None:
            raise ConfigError(
                f"agent {ep} needs a bus key: create one with `emspool keys create NAME "
                "--role operator --out DIR` and give it with --key or EMSPOOL_KEY"
            )
        sock.curve_secretkey = key.secret.encode("ascii")
        sock.curve_publickey = key.public.encode("ascii")
        sock.curve_serverkey = ep.server_key.encode("ascii")
    sock.connect(ep.address)


def _refused(ep: Endpoint, key: KeyPair | None) -> Unreachable:
    return Unreachable(
        f"agent {ep} refused our bus key {key.public if key else ''} (not allow-listed, or "
        "revoked: see `emspool keys list`)"
    )


@dataclass(frozen=True, slots=True)
class Ahead:
    """A request sent ahead on a ``BusClient``'s connection, its answer not read yet."""

    sock: zmq.Socket[bytes]
    endpoint: Endpoint
    request: Request


class BusClient:
    """Blocking client; not thread-safe (one per thread)."""

    def __init__(
        self, endpoints: Endpoints, key: KeyPair | None = None, *, timeout: float = 5.0
    ) -> None:
        self.key = key
        self.timeout = timeout
        self._rotation = _Rotation(endpoints)
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.endpoint: Endpoint | None = None
        self._sock: zmq.Socket[bytes] | None = None
        self._monitor: zmq.Socket[bytes] | None = None

    def __enter__(self) -> BusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        raw: bool = False,
    ) -> Any:
        """The result of ``op`` (with ``raw`` as unparsed JSON, ``msgspec.Raw``); each
        agent tried gets ``timeout`` seconds to answer."""
        wait = self.timeout if timeout is None else timeout
        tried: list[str] = []
        for ep in self._rotation.order(self.endpoint):
            try:
                sock = self._connect(ep)
                return self._receive(sock, ep, self._send(sock, op, args or {}), wait, raw)
            except Unreachable as e:
                self._drop()
                tried.append(str(e))
        raise Unreachable("; ".join(tried))

    def send_ahead(self, op: str, args: dict[str, Any]) -> Ahead | None:
        """Send ``op`` now on the open connection, to read its answer later with
        ``receive_ahead`` (a walk of pages asks for the next while it reads this one);
        None without a connection (then ask with ``request``)."""
        if self._sock is None or self.endpoint is None:
            return None
        return Ahead(self._sock, self.endpoint, self._send(self._sock, op, args))

    def receive_ahead(self, ahead: Ahead, timeout: float | None = None, raw: bool = False) -> Any:
        """The result of a request sent ahead; Unreachable if its connection was closed
        since or it was not answered in time (then ask again with ``request``, which moves
        on to another agent)."""
        if ahead.sock is not self._sock:
            raise Unreachable(f"the connection to {ahead.endpoint} was closed")
        wait = self.timeout if timeout is None else timeout
        try:
            return self._receive(ahead.sock, ahead.endpoint, ahead.request, wait, raw)
        except Unreachable:
            self._drop()
            raise

    @staticmethod
    def _send(sock: zmq.Socket[bytes], op: str, args: dict[str, Any]) -> Request:
        req = Request(op=op, args=args)
        sock.send_multipart([b"", req.encode()])
        return req

    def _receive(
        self, sock: zmq.Socket[bytes], ep: Endpoint, req: Request, wait: float, raw: bool
    ) -> Any:
        deadline = time.monotonic() + wait
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        if self._monitor is not None:
            poller.register(self._monitor, zmq.POLLIN)
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            ready = dict(poller.poll(max(0, left_ms))) if left_ms > 0 else {}
            if not ready:
                raise Unreachable(f"no answer from {ep} within {wait:g} s")
            if self._monitor is not None and self._monitor in ready:
                event = recv_monitor_message(self._monitor)["event"]
                if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    raise _refused(ep, self.key)
            if sock in ready:
                try:
                    reply = _decode(sock.recv_multipart()[-1], raw)
                except WireError:
                    continue
                if reply.id != req.id:
                    continue  # a late answer to an earlier request that timed out
                if not reply.ok:
                    raise _failed(reply)
                return reply.result

    def _connect(self, ep: Endpoint) -> zmq.Socket[bytes]:
        if self._sock is not None and self.endpoint == ep:
            return self._sock
        self._drop()
        sock: zmq.Socket[bytes] = self._ctx.socket(zmq.DEALER)
        try:
            _setup(sock, ep, self.key)
            if ep.server_key:
                self._monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        except BaseException:
            sock.close(linger=0)
            raise
        self._sock, self.endpoint = sock, ep
        return sock

    def subscribe(
        self, pub_endpoint: str, topics: Sequence[str], hwm: int | None = None
    ) -> zmq.Socket[bytes]:
        """A SUB socket on an agent's event endpoint, secured like the requests (the same
        agent key serves both); the caller closes it. ``hwm``: messages queued before
        ZeroMQ drops (set before connecting, where it takes effect)."""
        ep = self.endpoint or self._rotation.order(None)[0]
        sub: zmq.Socket[bytes] = self._ctx.socket(zmq.SUB)
        if hwm is not None:
            sub.setsockopt(zmq.RCVHWM, hwm)
        for t in topics:
            sub.setsockopt(zmq.SUBSCRIBE, t.encode())
        try:
            _setup(sub, Endpoint(pub_endpoint, ep.server_key, ep.node), self.key)
        except BaseException:
            sub.close(linger=0)
            raise
        return sub

    def _drop(self) -> None:
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None
        if self._sock is not None:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disable_monitor()
            self._sock.close(linger=0)
            self._sock = None
        self.endpoint = None

    def close(self) -> None:
        self._drop()


class AsyncBusClient:
    """The same on an asyncio loop; requests may run concurrently on one connection."""

    def __init__(
        self,
        endpoints: Endpoints,
        key: KeyPair | None = None,
        *,
        timeout: float = 5.0,
        ctx: zmq.asyncio.Context | None = None,
    ) -> None:
        self.key = key
        self.timeout = timeout
        self._rotation = _Rotation(endpoints)
        self._own_ctx = ctx is None
        self._ctx = ctx or zmq.asyncio.Context()
        self.endpoint: Endpoint | None = None
        self._sock: zmq.asyncio.Socket | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncBusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        raw: bool = False,
    ) -> Any:
        """The result of ``op`` (with ``raw`` as unparsed JSON, ``msgspec.Raw``)."""
        wait = self.timeout if timeout is None else timeout
        tried: dict[Endpoint, str] = {}
        order: list[Endpoint] | None = None
        while True:
            async with self._lock:
                # Concurrent requests share one connection and follow one another's
                # failover: a new one is opened only when this request has not tried it.
                if self._sock is None or self.endpoint in tried:
                    if order is None:
                        order = self._rotation.order(self.endpoint)
                    nxt = next((e for e in order if e not in tried), None)
                    if nxt is None:
                        raise Unreachable("; ".join(tried.values()))
                    await self._drop()
                    self._open(nxt)
                assert self._sock is not None and self.endpoint is not None
                ep, sock = self.endpoint, self._sock
            try:
                result = await self._attempt(sock, ep, op, args or {}, wait)
                # The reader leaves results unparsed: parsed here, by the one who waits.
                return result if raw else parse_result(result)
            except Unreachable as e:
                tried[ep] = str(e)
                async with self._lock:
                    if self.endpoint == ep:
                        await self._drop()

    async def _attempt(
        self, sock: zmq.asyncio.Socket, ep: Endpoint, op: str, args: dict[str, Any], wait: float
    ) -> Any:
        req = Request(op=op, args=args)
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[req.id] = fut
        try:
            async with asyncio.timeout(wait):
                await sock.send_multipart([b"", req.encode()])
                reply = await fut
        except TimeoutError:
            raise Unreachable(f"no answer from {ep} within {wait:g} s") from None
        finally:
            self._waiting.pop(req.id, None)
        if not reply.ok:
            raise _failed(reply)
        return reply.result

    def _open(self, ep: Endpoint) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        try:
            _setup(sock, ep, self.key)
        except BaseException:
            sock.close(linger=0)
            raise
        self._sock, self.endpoint = sock, ep
        self._reader = asyncio.get_running_loop().create_task(self._read(sock))

    def subscribe(self, pub_endpoint: str, topics: Sequence[str]) -> zmq.asyncio.Socket:
        """A SUB socket on an agent's event endpoint (``ping`` says which), secured like
        the requests: the same agent key serves both. The caller closes it."""
        ep = self.endpoint or self._rotation.order(None)[0]
        sub = self._ctx.socket(zmq.SUB)
        for t in topics:
            sub.setsockopt(zmq.SUBSCRIBE, t.encode())
        try:
            _setup(sub, Endpoint(pub_endpoint, ep.server_key, ep.node), self.key)
        except BaseException:
            sub.close(linger=0)
            raise
        return sub

    async def _read(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            frames = await sock.recv_multipart()
            try:
                reply = _decode(frames[-1], raw=True)
            except WireError:
                continue
            fut = self._waiting.pop(reply.id, None)
            if fut is not None and not fut.done():
                fut.set_result(reply)

    async def _drop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        self.endpoint = None

    async def aclose(self) -> None:
        await self._drop()
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()
        self._waiting.clear()
        if self._own_ctx:
            self._ctx.term()


def request(
    endpoint: str | Endpoint,
    op: str,
    args: dict[str, Any] | None = None,
    timeout: float = 5.0,
    *,
    key: KeyPair | None = None,
) -> Any:
    """One request on a fresh connection (scripts and tests; the CLI keeps a client)."""
    ep = endpoint if isinstance(endpoint, Endpoint) else Endpoint(endpoint)
    with BusClient([ep], key, timeout=timeout) as client:
        return client.request(op, args)

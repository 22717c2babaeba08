"""Persistent links from this agent to every other agent of the pool (ZeroMQ DEALERs).

One DEALER per peer, connected to that peer's ROUTER, kept open while the peer is a member;
ZeroMQ reconnects on its own. Two ways to talk:

- ``request``: a reply is awaited, with a deadline (no request waits forever); a peer that
  does not answer in time raises ``PeerTimeout``;
- ``notify``: one-way (election heartbeats, assignment announcements), never blocks: if the
  peer is not connected or its queue is full the message is dropped and counted, which is
  what a heartbeat should do (the next one carries the news).

``gather`` asks several peers at once under one deadline and says who answered and who did
not: the building block of the federated service.

With this agent's key pair every link is CURVE, to the server key the peer advertises in
its ``agents`` row; the peer's ZAP handler admits us as an agent key. A peer whose key is
not known gets no link (it could not be authenticated) until its row carries one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from agent.keys import KeyPair
from shared.errors import EmspoolError
from shared.wire import MAX_MESSAGE, Reply, Request, WireError, parse_result

log = logging.getLogger(__name__)

_SNDHWM = 1000  # messages queued per peer before notify() drops
_RETRY_FIRST, _RETRY_MAX = 0.1, 5.0  # seconds before connecting again after a refusal
# ZMTP PINGs on every link: a TCP connection a partition left dead is dropped (and dialled
# again) after _PING_TIMEOUT instead of swallowing messages until TCP gives up, minutes on.
# A dial that gets no answer is given up after _CONNECT_TIMEOUT and made again: left to the
# kernel, the SYN retries of a dial made during a partition back off to seconds apart, and
# the link stays down that long after the partition heals.
_PING_IVL_MS, _PING_TIMEOUT_MS, _CONNECT_TIMEOUT_MS = 1000, 3000, 1000


class PeerTimeout(EmspoolError):
    """A peer did not answer before the deadline."""


class PeerError(EmspoolError):
    """A peer answered with an error."""

    def __init__(self, node: str, code: str, message: str) -> None:
        super().__init__(f"{node}: {code}: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Curve:
    """CURVE settings of one link: our key pair and the peer's public key (Z85)."""

    key: KeyPair
    server: str


class PeerLink:
    """One persistent DEALER to one peer's ROUTER."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        node: str,
        endpoint: str,
        stats: dict[str, int],
        curve: Curve | None = None,
    ) -> None:
        self.node = node
        self.endpoint = endpoint
        self._stats = stats
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        sock.setsockopt(zmq.SNDHWM, _SNDHWM)
        # Queue nothing for a peer that is not connected: a heartbeat sent into the void
        # must be dropped now, not delivered stale when the peer comes back.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.HEARTBEAT_IVL, _PING_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, _PING_TIMEOUT_MS)
        sock.setsockopt(zmq.CONNECT_TIMEOUT, _CONNECT_TIMEOUT_MS)
        if curve is not None:
            sock.curve_publickey = curve.key.public.encode("ascii")
            sock.curve_secretkey = curve.key.secret.encode("ascii")
            sock.curve_serverkey = curve.server.encode("ascii")
        self.server_key = curve.server if curve is not None else ""
        sock.connect(endpoint)
        self._sock = sock
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._retry: asyncio.Task[None] | None = None
        if curve is not None:
            # ZeroMQ gives up on a connection whose key the server refused: a peer that
            # has not read the allow-list with our key yet (we just joined) would stay
            # refused. Connect again after a pause, a little longer each time.
            self._retry = asyncio.get_running_loop().create_task(
                self._retry_refused(sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)),
                name=f"peer-auth:{node}",
            )

    async def _retry_refused(self, monitor: zmq.asyncio.Socket) -> None:
        pause, refused = _RETRY_FIRST, 0
        try:
            while True:
                await monitor.recv_multipart()  # only auth failures are subscribed
                self._stats["refused"] += 1
                refused += 1
                if refused & (refused - 1) == 0:  # 1, 2, 4...: a stuck link stays visible
                    log.info(
                        "link to %s refused %d times (our key not allowed there yet?): "
                        "connecting again in %.1f s",
                        self.node,
                        refused,
                        pause,
                    )
                await asyncio.sleep(pause)
                pause = min(pause * 2, _RETRY_MAX)
                with contextlib.suppress(zmq.ZMQError):
                    self._sock.disconnect(self.endpoint)
                self._sock.connect(self.endpoint)
        finally:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disable_monitor()
            monitor.close(linger=0)

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(
                self._read(), name=f"peer:{self.node}"
            )

    async def _read(self) -> None:
        while True:
            frames = await self._sock.recv_multipart()
            try:
                reply = Reply.decode_lazy(frames[-1])
            except WireError:
                self._stats["bad_replies"] += 1
                continue
            fut = self._waiting.pop(reply.id, None)
            if fut is not None and not fut.done():
                fut.set_result(reply)

    def notify(self, op: str, args: Mapping[str, Any]) -> bool:
        # An asyncio socket reports a refused send through its future, not by raising:
        # ask first whether it can take a message now (connected, queue not full).
        if not int(self._sock.getsockopt(zmq.EVENTS)) & zmq.POLLOUT:
            self._stats["dropped"] += 1
            return False
        req = Request(op=op, args=dict(args), oneway=True)
        sent = asyncio.ensure_future(
            self._sock.send_multipart([b"", req.encode()], flags=zmq.NOBLOCK)
        )
        sent.add_done_callback(self._sent)
        self._stats["notified"] += 1
        return True

    def _sent(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self._stats["dropped"] += 1

    async def request(
        self, op: str, args: Mapping[str, Any], timeout: float, *, raw: bool = False
    ) -> Any:
        """The peer's result; with ``raw`` as unparsed JSON (``msgspec.Raw``)."""
        self._ensure_reader()
        req = Request(op=op, args=dict(args))
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[req.id] = fut
        try:
            async with asyncio.timeout(timeout):
                # Waits for the connection (IMMEDIATE) within the same deadline.
                await self._sock.send_multipart([b"", req.encode()])
                reply = await fut
        except TimeoutError:
            self._stats["timeouts"] += 1
            raise PeerTimeout(f"{self.node} did not answer {op!r} within {timeout:g} s") from None
        finally:
            self._waiting.pop(req.id, None)
        self._stats["requests"] += 1
        if not reply.ok:
            raise PeerError(self.node, reply.code, reply.message)
        if raw:
            return reply.result
        try:
            return parse_result(reply.result)
        except WireError as e:
            self._stats["bad_replies"] += 1
            raise PeerError(self.node, "malformed", str(e)) from None

    async def aclose(self) -> None:
        for task in (self._reader, self._retry):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reader = self._retry = None
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()
        self._waiting.clear()
        self._sock.close(linger=0)


@dataclass(frozen=True, slots=True)
class Gathered:
    """Answers of a fan-out: per node, its result or why it has none."""

    results: dict[str, Any]
    failed: dict[str, str]

    @property
    def partial(self) -> bool:
        return bool(self.failed)


class Peers:
    """Links to every other member, kept in step with the membership."""

    def __init__(self, ctx: zmq.asyncio.Context, me: str, key: KeyPair | None = None) -> None:
        """``key``: this agent's bus key pair (None: plain links, an insecure lab pool)."""
        self._ctx = ctx
        self.me = me
        self._key = key
        self._links: dict[str, PeerLink] = {}
        self._unkeyed: set[str] = set()  # peers said once to have no known key
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "notified",
                "dropped",
                "requests",
                "timeouts",
                "bad_replies",
                "no_key",
                "refused",
                "relinked",
            ),
            0,
        )

    @property
    def nodes(self) -> list[str]:
        return sorted(self._links)

    async def update(
        self, endpoints: Mapping[str, str], keys: Mapping[str, str] | None = None
    ) -> None:
        """Open links to new members, close those of departed ones (or moved endpoints, or
        new keys). ``keys``: node -> its public key (Z85), from the ``agents`` rows."""
        keys = keys or {}
        for node in list(self._links):
            link = self._links[node]
            if endpoints.get(node) != link.endpoint or (
                self._key is not None and keys.get(node, "") != link.server_key
            ):
                await self._links.pop(node).aclose()
        for node, endpoint in endpoints.items():
            if node == self.me or node in self._links or not endpoint:
                continue
            server = keys.get(node, "")
            if self._key is not None and not server:
                if node not in self._unkeyed:
                    log.warning("peer %s advertises no bus key: no link to it", node)
                    self._unkeyed.add(node)
                    self.stats["no_key"] += 1
                continue
            self._unkeyed.discard(node)
            self._open(node, endpoint, server)

    async def relink(self, node: str) -> bool:
        """Close the link to ``node`` and open it again (same endpoint and key): for a
        link that carries nothing while the peer is alive. False: no such link."""
        link = self._links.pop(node, None)
        if link is None:
            return False
        await link.aclose()
        if node in self._links:  # update() made a new one meanwhile
            return True
        self._open(node, link.endpoint, link.server_key)
        self.stats["relinked"] += 1
        return True

    def _open(self, node: str, endpoint: str, server: str) -> None:
        """A link to ``node``: CURVE to its key ``server`` when we have a key pair."""
        curve = Curve(self._key, server) if self._key is not None else None
        self._links[node] = PeerLink(self._ctx, node, endpoint, self.stats, curve)

    def notify(self, node: str, op: str, args: Mapping[str, Any]) -> bool:
        link = self._links.get(node)
        if link is None:
            self.stats["dropped"] += 1
            return False
        return link.notify(op, args)

    def broadcast(self, op: str, args: Mapping[str, Any]) -> int:
        return sum(link.notify(op, args) for link in list(self._links.values()))

    async def request(
        self, node: str, op: str, args: Mapping[str, Any], timeout: float, *, raw: bool = False
    ) -> Any:
        link = self._links.get(node)
        if link is None:
            raise PeerTimeout(f"{node} is not a known member")
        return await link.request(op, args, timeout, raw=raw)

    async def gather(
        self,
        op: str,
        args: Mapping[str, Any],
        timeout: float,
        nodes: Iterable[str] | None = None,
    ) -> Gathered:
        """Ask several peers in parallel under one deadline (a dead peer costs at most it)."""
        targets = sorted(self._links if nodes is None else set(nodes) & set(self._links))
        answers = await asyncio.gather(
            *(self._links[n].request(op, args, timeout) for n in targets),
            return_exceptions=True,
        )
        results: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for node, answer in zip(targets, answers, strict=True):
            if isinstance(answer, BaseException):
                failed[node] = str(answer) if isinstance(answer, EmspoolError) else repr(answer)
            else:
                results[node] = answer
        return Gathered(results, failed)

    async def aclose(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.aclose()

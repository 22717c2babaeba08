"""Pool-wide live events: every agent re-publishes the other members' events on its own PUB
socket, so a client attached to any one agent sees the whole pool's changes.

One SUB socket per peer, connected to that peer's PUB endpoint, so each message's origin is
known from the socket it came on: an event is relayed only if it was published by that peer
about itself (``origin`` = the peer, no ``via``). Relayed events are marked ``via`` = this
agent and are never relayed again, so there are no loops and no copies through two paths.
ZeroMQ reconnects a SUB on its own when a peer restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import zmq
import zmq.asyncio

from shared.wire import MAX_MESSAGE, WireError, decode_publish

log = logging.getLogger(__name__)

Republish = Callable[[str, dict[str, Any]], None]
Secure = Callable[[zmq.asyncio.Socket, str], None]  # (socket, peer node) -> set CURVE keys

_RCVHWM = 100_000  # events queued from one peer before ZeroMQ drops (the client sees a gap)


class _Feed:
    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        node: str,
        endpoint: str,
        relay: Relay,
        secure: Secure | None,
    ) -> None:
        self.node = node
        self.endpoint = endpoint
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        self.sock.setsockopt(zmq.RCVHWM, _RCVHWM)
        if secure is not None:
            secure(self.sock, node)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(endpoint)
        self.task = asyncio.create_task(self._read(relay), name=f"relay-{node}")

    async def _read(self, relay: Relay) -> None:
        while True:
            frames = await self.sock.recv_multipart()
            relay.take(self.node, frames)

    async def aclose(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.sock.close(linger=0)


class Relay:
    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        me: str,
        republish: Republish,
        secure: Secure | None = None,
    ) -> None:
        self._ctx = ctx
        self.me = me
        self._republish = republish
        self._secure = secure
        self._feeds: dict[str, _Feed] = {}
        self.stats: dict[str, int] = dict.fromkeys(("relayed", "malformed", "foreign"), 0)

    @property
    def nodes(self) -> list[str]:
        return sorted(self._feeds)

    async def update(self, pub_endpoints: Mapping[str, str]) -> None:
        """Subscribe to new members, drop departed ones (or moved endpoints)."""
        for node in list(self._feeds):
            if pub_endpoints.get(node) != self._feeds[node].endpoint:
                await self._feeds.pop(node).aclose()
        for node, endpoint in pub_endpoints.items():
            if node != self.me and node not in self._feeds and endpoint:
                self._feeds[node] = _Feed(self._ctx, node, endpoint, self, self._secure)

    def take(self, node: str, frames: list[bytes]) -> None:
        try:
            topic, body = decode_publish(frames)
        except WireError as e:
            self.stats["malformed"] += 1
            log.debug("malformed event from %s dropped: %s", node, e)
            return
        if body.get("via"):
            return  # already a relayed copy: that peer relays it, we have it from its origin
        if body.get("origin", body.get("agent")) != node:
            self.stats["foreign"] += 1  # a peer speaking for another: not trusted, not relayed
            return
        body["via"] = self.me
        self.stats["relayed"] += 1
        self._republish(topic, body)

    async def aclose(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for f in feeds:
            await f.aclose()

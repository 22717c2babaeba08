"""The pool's live alarms for a client: the I/O around ``shared.alarmview.AlarmView``, with
a blocking face (``LiveAlarms``: ``emspool watch``, tests, benchmarks) and an asyncio one
(``AsyncLiveAlarms``: the console).

Subscribes to every topic of the attached agent's PUB socket (each origin numbers all the
messages it publishes, so a gap is only a gap when all are seen), pings that agent to notice
its death (a dead PUB is just silent), and resynchronises with one ``pool.alarms`` when the
view asks for it, when the client moved to another agent, and every ``resync_every``
seconds as a safety net (sooner while the last snapshot was partial: 2 s, then backing off,
as a killed member is named missing until the pool forgets it).

A resynchronisation reads every page of one snapshot generation (agent/alarmpages.py,
``page_size`` alarms a page) while the live events are buffered, then applies them at once:
the view is never built from a part of the pages.

With ``nes=True`` the same messages also keep a ``shared.neview.NeView`` (the NEs' live
states and the pool's members, topics ``ne`` and ``agent``), resynchronised the same way
with ``pool.ne_states`` and ``pool.health``; what each message changed there is kept in
``news`` for a printer or a GUI.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import zmq
import zmq.asyncio

from agent import busclient
from agent.alarmpages import afetch_alarms, afetch_ne_states, fetch_alarms, fetch_ne_states
from shared.alarmpage import DEFAULT_PAGE
from shared.alarmview import AlarmView
from shared.neview import NeView, Seen
from shared.wire import Topic, WireError, decode_publish

PARTIAL_RETRY = 2.0  # first wait before resyncing a partial view (then doubled each time)


class _Live:
    """What both faces share: the view, the schedule, the status line."""

    def __init__(
        self,
        *,
        resync_every: float = 30.0,
        ping_every: float = 0.5,
        timeout: float = 1.0,
        deadline: float = 1.0,
        page_size: int = DEFAULT_PAGE,
        nes: bool = False,
    ) -> None:
        self.view = AlarmView()
        self.nes: NeView | None = NeView() if nes else None
        self.news: collections.deque[Seen] = collections.deque(maxlen=1000)
        self.news_count = 0  # Seen's appended, for a printer of the new ones
        self.page_size = page_size
        self.resync_every = resync_every
        self.ping_every = ping_every
        self.timeout = timeout  # for each agent tried
        self.deadline = deadline  # for the federated query: a dead member costs this much
        self.attached: busclient.Endpoint | None = None
        self.attached_node = ""
        self.last_resync = 0.0  # wall clock, for the status line
        self.last_reason = ""
        self.reattaches = 0
        self.seen = 0  # events (topic "event") read, for a printer of the new ones
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)
        self._next_ping = 0.0
        self._resynced_at = float("-inf")  # monotonic
        self._partial_retry = PARTIAL_RETRY

    def take(self, topic: str, body: dict[str, Any]) -> None:
        """One message as read from the SUB socket."""
        self.view.on_event(topic, body)
        if self.nes is not None:
            self._news(self.nes.on_event(topic, body))
        if topic == Topic.EVENT:
            self.recent.appendleft(body)
            self.seen += 1

    def _attached_to(self, endpoint: busclient.Endpoint | None, info: dict[str, Any]) -> None:
        if self.attached is not None:
            self.reattaches += 1
            self.view.reattached()
            if self.nes is not None:
                self.nes.reattached()
        self.attached = endpoint
        self.attached_node = str(info.get("node_id") or "")

    def _ping_due(self) -> bool:
        now = time.monotonic()
        if now < self._next_ping:
            return False
        self._next_ping = now + self.ping_every
        return True

    def _resync_due(self) -> bool:
        now = time.monotonic()
        every = min(self._partial_retry, self.resync_every) if self.view.partial else None
        if not self.view.partial:
            self._partial_retry = PARTIAL_RETRY
        if self.view.resync_needed:
            return True
        if every is not None and now - self._resynced_at >= every:
            self.view.resync_needed = f"partial: {', '.join(sorted(self.view.missing))} missing"
            self._partial_retry *= 2  # a dead member stays missing until it is forgotten
            return True
        return now - self._resynced_at >= self.resync_every

    def _news(self, seen: Seen) -> None:
        if seen:
            self.news.appendleft(seen)
            self.news_count += 1

    def _nes_due(self) -> bool:
        return self.nes is not None and bool(self.nes.resync_needed)

    def _apply(self, reply: dict[str, Any]) -> None:
        self.last_reason = self.view.resync_needed or "periodic"
        self.view.apply_snapshot(reply)
        self.last_resync = time.time()
        self._resynced_at = time.monotonic()

    def status(self) -> str:
        when = time.localtime(self.last_resync)
        at = time.strftime("%H:%M:%S", when) if self.last_resync else "-"
        node = self.attached_node or "?"
        return f"via {node} ({self.attached}); resynced {at} ({self.last_reason})"


class LiveAlarms(_Live):
    """The blocking face: the caller calls ``step`` in its loop."""

    def __init__(
        self,
        client: busclient.BusClient,
        *,
        hwm: int | None = None,
        page_size: int = DEFAULT_PAGE,
        nes: bool = False,
        **schedule: float,
    ) -> None:
        super().__init__(page_size=page_size, nes=nes, **schedule)
        self.client = client
        self.hwm = hwm
        self._sub: zmq.Socket[bytes] | None = None

    # -- attaching ------------------------------------------------------------------------
    def _attach(self) -> None:
        info = self.client.request("ping", timeout=self.timeout)
        if self._sub is not None:
            self._sub.close(linger=0)
        self._sub = self.client.subscribe(str(info["pub_endpoint"]), [""], self.hwm)
        self._attached_to(self.client.endpoint, info)

    def _check_attachment(self) -> None:
        if self._sub is None or self.client.endpoint != self.attached:  # failed over?
            self._attach()

    # -- events ---------------------------------------------------------------------------
    def _drain(self, wait: float = 0.0) -> int:
        """Feed the view what the SUB socket holds (waiting up to ``wait`` for the first)."""
        sub = self._sub
        if sub is None:
            return 0
        n = 0
        timeout_ms = int(wait * 1000)
        while n < 10_000 and sub.poll(timeout_ms, zmq.POLLIN):
            timeout_ms = 0
            try:
                topic, body = decode_publish(sub.recv_multipart())
            except WireError:
                topic, body = "", {}  # unusable: the view asks for a resync
            self.take(topic, body)
            n += 1
        return n

    def resync(self) -> None:
        """Subscribed first, then the snapshot; what arrives meanwhile is replayed."""
        self._check_attachment()
        for _ in range(3):
            self._drain()
            self.view.begin_resync()
            reply = fetch_alarms(
                self.client,
                {"deadline": self.deadline},
                timeout=self.timeout + self.deadline,
                limit=self.page_size,
            )
            if self.client.endpoint != self.attached:
                self._attach()  # the answer came from another agent: listen to that one
                continue
            self._drain()
            self._apply(reply)
            break
        else:
            raise busclient.Unreachable("the agents kept changing during the resynchronisation")
        self.resync_nes()

    def resync_nes(self) -> None:
        """The NE states and the members, as ``resync`` does the alarms."""
        nes = self.nes
        if nes is None:
            return
        for _ in range(3):
            self._drain()
            nes.begin_resync()
            args = {"deadline": self.deadline}
            states = fetch_ne_states(self.client, args, timeout=self.timeout + self.deadline)
            health = self.client.request("pool.health", args, self.timeout + self.deadline)
            if self.client.endpoint != self.attached:
                self._attach()
                continue
            self._drain()
            self._news(nes.apply_snapshot(states, health))
            return
        raise busclient.Unreachable("the agents kept changing during the resynchronisation")

    def step(self, wait: float = 0.2) -> int:
        """Wait up to ``wait`` for events, apply them; ping, reattach and resync as needed.
        Returns how many messages were read."""
        self._check_attachment()
        n = self._drain(wait)
        if self._ping_due():
            self.client.request("ping", timeout=self.timeout)  # fails over if it is dead
            self._check_attachment()
        if self._resync_due():
            self.resync()
        elif self._nes_due():
            self.resync_nes()
        return n

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close(linger=0)
            self._sub = None


class AsyncLiveAlarms(_Live):
    """The asyncio face (the console): ``run()`` until cancelled, or ``step`` in a loop."""

    def __init__(
        self,
        client: busclient.AsyncBusClient,
        *,
        page_size: int = DEFAULT_PAGE,
        nes: bool = False,
        **schedule: float,
    ) -> None:
        super().__init__(page_size=page_size, nes=nes, **schedule)
        self.client = client
        self._sub: zmq.asyncio.Socket | None = None

    async def _attach(self) -> None:
        info = await self.client.request("ping", timeout=self.timeout)
        if self._sub is not None:
            self._sub.close(linger=0)
        self._sub = self.client.subscribe(str(info["pub_endpoint"]), [""])
        self._attached_to(self.client.endpoint, info)

    async def _check_attachment(self) -> None:
        if self._sub is None or self.client.endpoint != self.attached:
            await self._attach()

    async def _drain(self, wait: float = 0.0) -> int:
        sub = self._sub
        if sub is None:
            return 0
        n = 0
        timeout_ms = int(wait * 1000)
        while n < 10_000 and await sub.poll(timeout_ms):  # POLLIN by default
            timeout_ms = 0
            try:
                topic, body = decode_publish(await sub.recv_multipart())
            except WireError:
                topic, body = "", {}
            self.take(topic, body)
            n += 1
        return n

    async def resync(self) -> None:
        await self._check_attachment()
        for _ in range(3):
            await self._drain()
            self.view.begin_resync()
            reply = await afetch_alarms(
                self.client,
                {"deadline": self.deadline},
                timeout=self.timeout + self.deadline,
                limit=self.page_size,
            )
            if self.client.endpoint != self.attached:
                await self._attach()
                continue
            await self._drain()
            self._apply(reply)
            break
        else:
            raise busclient.Unreachable("the agents kept changing during the resynchronisation")
        await self.resync_nes()

    async def resync_nes(self) -> None:
        nes = self.nes
        if nes is None:
            return
        for _ in range(3):
            await self._drain()
            nes.begin_resync()
            args = {"deadline": self.deadline}
            wait = self.timeout + self.deadline
            states = await afetch_ne_states(self.client, args, timeout=wait)
            health = await self.client.request("pool.health", args, wait)
            if self.client.endpoint != self.attached:
                await self._attach()
                continue
            await self._drain()
            self._news(nes.apply_snapshot(states, health))
            return
        raise busclient.Unreachable("the agents kept changing during the resynchronisation")

    async def step(self, wait: float = 0.2) -> int:
        await self._check_attachment()
        n = await self._drain(wait)
        if self._ping_due():
            await self.client.request("ping", timeout=self.timeout)
            await self._check_attachment()
        if self._resync_due():
            await self.resync()
        elif self._nes_due():
            await self.resync_nes()
        return n

    async def run(self, wait: float = 0.2, retry: float = 0.5) -> None:
        """Keep the view current until cancelled; no agent answering is retried."""
        while True:
            try:
                await self.step(wait)
            except busclient.Unreachable:
                await asyncio.sleep(retry)

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close(linger=0)
            self._sub = None

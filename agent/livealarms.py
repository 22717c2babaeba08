"""The pool's live alarms for a blocking client (``emspool watch``, tests, benchmarks): the
I/O around ``shared.alarmview.AlarmView``.

Subscribes to every topic of the attached agent's PUB socket (each origin numbers all the
messages it publishes, so a gap is only a gap when all are seen), pings that agent to notice
its death (a dead PUB is just silent), and resynchronises with one ``pool.alarms`` when the
view asks for it, when the client moved to another agent, and every ``resync_every``
seconds as a safety net (sooner while the last snapshot was partial: 2 s, then backing off,
as a killed member is named missing until the pool forgets it).
"""

from __future__ import annotations

import collections
import time
from typing import Any

import zmq

from agent import busclient
from shared.alarmview import AlarmView
from shared.wire import Topic, WireError, decode_publish

PARTIAL_RETRY = 2.0  # first wait before resyncing a partial view (then doubled each time)


class LiveAlarms:
    def __init__(
        self,
        client: busclient.BusClient,
        *,
        resync_every: float = 30.0,
        ping_every: float = 0.5,
        timeout: float = 1.0,
        deadline: float = 1.0,
        hwm: int | None = None,
    ) -> None:
        self.client = client
        self.view = AlarmView()
        self.resync_every = resync_every
        self.ping_every = ping_every
        self.timeout = timeout  # for each agent tried
        self.deadline = deadline  # for the federated query: a dead member costs this much
        self.hwm = hwm
        self.attached: busclient.Endpoint | None = None
        self.attached_node = ""
        self.last_resync = 0.0  # wall clock, for the status line
        self.last_reason = ""
        self.reattaches = 0
        self.seen = 0  # events (topic "event") read, for a printer of the new ones
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)
        self._sub: zmq.Socket[bytes] | None = None
        self._next_ping = 0.0
        self._resynced_at = float("-inf")  # monotonic
        self._partial_retry = PARTIAL_RETRY

    # -- attaching ------------------------------------------------------------------------
    def _attach(self) -> None:
        info = self.client.request("ping", timeout=self.timeout)
        if self._sub is not None:
            self._sub.close(linger=0)
        self._sub = self.client.subscribe(str(info["pub_endpoint"]), [""], self.hwm)
        if self.attached is not None:
            self.reattaches += 1
            self.view.reattached()
        self.attached = self.client.endpoint
        self.attached_node = str(info.get("node_id") or "")

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

    def take(self, topic: str, body: dict[str, Any]) -> None:
        """One message as read from the SUB socket."""
        self.view.on_event(topic, body)
        if topic == Topic.EVENT:
            self.recent.appendleft(body)
            self.seen += 1

    def resync(self) -> None:
        """Subscribed first, then the snapshot; what arrives meanwhile is replayed."""
        self._check_attachment()
        for _ in range(3):
            self._drain()
            self.view.begin_resync()
            reply = self.client.request(
                "pool.alarms", {"deadline": self.deadline}, timeout=self.timeout + self.deadline
            )
            if self.client.endpoint != self.attached:
                self._attach()  # the answer came from another agent: listen to that one
                continue
            self._drain()
            self.last_reason = self.view.resync_needed or "periodic"
            self.view.apply_snapshot(reply)
            self.last_resync = time.time()
            self._resynced_at = time.monotonic()
            return
        raise busclient.Unreachable("the agents kept changing during the resynchronisation")

    def step(self, wait: float = 0.2) -> int:
        """Wait up to ``wait`` for events, apply them; ping, reattach and resync as needed.
        Returns how many messages were read."""
        self._check_attachment()
        n = self._drain(wait)
        now = time.monotonic()
        if now >= self._next_ping:
            self._next_ping = now + self.ping_every
            self.client.request("ping", timeout=self.timeout)  # fails over if it is dead
            self._check_attachment()
        every = min(self._partial_retry, self.resync_every) if self.view.partial else None
        if self.view.resync_needed:
            self.resync()
        elif every is not None and now - self._resynced_at >= every:
            self.view.resync_needed = f"partial: {', '.join(sorted(self.view.missing))} missing"
            self._partial_retry *= 2  # a dead member stays missing until it is forgotten
            self.resync()
        elif now - self._resynced_at >= self.resync_every:
            self.resync()
        if not self.view.partial:
            self._partial_retry = PARTIAL_RETRY
        return n

    def status(self) -> str:
        at = (
            time.strftime("%H:%M:%S", time.localtime(self.last_resync)) if self.last_resync else "-"
        )
        return (
            f"via {self.attached_node or '?'} ({self.attached}); resync {at} ({self.last_reason})"
        )

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close(linger=0)
            self._sub = None

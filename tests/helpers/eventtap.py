"""What agents published: a SUB socket on their event endpoints, read by a thread, so a
test can compare what the agents emitted with what reached the event log."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import zmq

from shared.wire import Topic, decode_publish


class EventTap:
    """Collects every ``event`` the agents at ``endpoints`` publish once the subscription
    has taken (PUB/SUB: what was published before is not seen). The endpoints need not be
    bound yet: ZeroMQ connects when they are, so make the tap before starting the agents."""

    def __init__(self, endpoints: Iterable[str]) -> None:
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._sock: zmq.Socket[bytes] = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 0)  # keep everything: the test reads it all
        self._sock.setsockopt(zmq.SUBSCRIBE, Topic.EVENT.encode())
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        for ep in endpoints:
            self._sock.connect(ep)
        # From here on only the thread touches the socket (ZeroMQ sockets are not shared).
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sock.poll(100, zmq.POLLIN):
                topic, body = decode_publish(self._sock.recv_multipart())
                if topic == Topic.EVENT:
                    with self._lock:
                        self._events.append(body)
        self._sock.close(linger=0)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> EventTap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

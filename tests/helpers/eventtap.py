"""What agents published: SUB sockets on their event endpoints, read by a thread, so a
test can compare what the agents emitted with what reached the event log."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import zmq

from agent.keys import KeyPair, secure_client
from shared.wire import Topic, decode_publish


class EventTap:
    """Collects every ``event`` the agents publish once the subscriptions have taken
    (PUB/SUB: what was published before is not seen). ``publishers``: (event endpoint,
    the agent's CURVE public key); ``key``: the test's allow-listed key pair. The endpoints
    need not be bound yet: ZeroMQ connects when they are, so make the tap before starting
    the agents."""

    def __init__(self, publishers: Iterable[tuple[str, str]], key: KeyPair) -> None:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._socks: list[zmq.Socket[bytes]] = []
        self._poller = zmq.Poller()
        for endpoint, server_key in publishers:
            sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, 0)  # keep everything: the test reads it all
            sock.setsockopt(zmq.SUBSCRIBE, Topic.EVENT.encode())
            secure_client(sock, key, server_key)
            sock.connect(endpoint)
            self._socks.append(sock)
            self._poller.register(sock, zmq.POLLIN)
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        # From here on only the thread touches the sockets (ZeroMQ sockets are not shared).
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for sock, _ in self._poller.poll(100):
                topic, body = decode_publish(sock.recv_multipart())
                if topic == Topic.EVENT:
                    with self._lock:
                        self._events.append(body)
        for sock in self._socks:
            sock.close(linger=0)

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

"""Connections refused below the request layer, counted from the ROUTER's socket monitor:
a client that fails the ZMTP/CURVE handshake (a plain client on a secured bus, a wrong
mechanism: ``rejected_handshake``) and a connection that ends before any handshake (bytes
that are not ZMTP at all, a port scanner: ``rejected_garbage``). Refused keys are counted
by ZAP itself (``rejected_unknown_key``).

libzmq's monitor names the file descriptor on accept and disconnect but not on handshake
events; those are matched to the oldest connection still in its handshake, which is exact
for one connection at a time and right in total otherwise.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
)
_EVENTS = (
    zmq.EVENT_ACCEPTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
)


class HandshakeCounter:
    def __init__(self, sock: zmq.asyncio.Socket, stats: dict[str, int]) -> None:
        self.stats = stats
        stats.setdefault("rejected_handshake", 0)
        stats.setdefault("rejected_garbage", 0)
        self._sock = sock
        self._monitor = sock.get_monitor_socket(_EVENTS)
        self._in_handshake: OrderedDict[int, None] = OrderedDict()  # fds, oldest first

    def take(self, event: int, value: int) -> None:
        if event == zmq.EVENT_ACCEPTED:
            self._in_handshake[value] = None
        elif event == zmq.EVENT_DISCONNECTED:
            if self._in_handshake.pop(value, 0) is None:  # ended with no handshake at all
                self.stats["rejected_garbage"] += 1
        else:
            if self._in_handshake:
                self._in_handshake.popitem(last=False)
            if event in _FAILED:
                self.stats["rejected_handshake"] += 1

    async def run(self) -> None:
        try:
            while True:
                msg = parse_monitor_message(await self._monitor.recv_multipart())
                self.take(int(msg["event"]), int(msg["value"]))
        finally:
            self.close()

    def close(self) -> None:
        if not self._monitor.closed:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disable_monitor()
            self._monitor.close(linger=0)

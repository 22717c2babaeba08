"""The UDP side shared by our v1/v2c and v3 transports (_v2c.py, _v3.py).

One non-blocking socket per address family serves every target; each request waits in one
dict entry keyed by its request-id (v1/v2c) or msgID (v3), and the transport that owns this
requester decodes and checks every datagram before it wakes a waiter. Retries resend the same
datagram under the same key, so a late answer to an earlier attempt still counts.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.errors import SnmpError

# Requests are small, answers up to one UDP datagram; net-snmp agents cap at 64 kB.
_RECV_SIZE = 65535
# Answers read per readable event before giving the loop back to other callbacks. Each
# costs up to a few ms to decode (v3: decrypt too); 64 of them at a takeover's burst held
# the loop for over a second on a loaded machine, late enough for the pool's heartbeats to
# miss their peers' dead_after. The kernel buffer holds the rest meanwhile.
_RECV_BATCH = 16
# A burst of answers from many NEs must not overflow the kernel buffer (a loss = a retry).
_RCVBUF = 4 * 1024 * 1024
_MAX_ID = 0x7FFFFFFF

T = TypeVar("T")


class RequestTimeout(Exception):
    """No acceptable answer before the request's time ran out; the caller words the message."""


@dataclass(slots=True)
class Waiter(Generic[T]):
    """One request in flight: where its answer must come from and the future it resolves."""

    future: asyncio.Future[T]
    address: tuple[str, int]


W = TypeVar("W", bound="Waiter[Any]")


class UdpRequester(Generic[T, W]):
    """Sockets, waiters and their timers; ``on_datagram`` decides what an answer is.

    ``T`` is what a waiter's future resolves to, ``W`` the transport's waiter type (a Waiter
    with the fields its checks need).

    ``stats`` must hold "sent", "retries", "received", "send_errors" and "timeouts"; it is the
    owning transport's dict, so its other counters sit in the order the transport chose.
    """

    def __init__(
        self, on_datagram: Callable[[bytes, tuple[str, int]], None], stats: dict[str, int]
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self._on_datagram = on_datagram
        self._sockets: dict[int, socket.socket] = {}
        self._waiters: dict[int, W] = {}
        self._next_id = random.randrange(1, 1 << 30)
        self.closed = False
        self.stats = stats

    def socket_for(self, ipv6: bool) -> socket.socket:
        """The shared socket of the family, opened on first use."""
        if self.closed:
            raise SnmpError("SNMP transport is closed")
        family = socket.AF_INET6 if ipv6 else socket.AF_INET
        sock = self._sockets.get(family)
        if sock is not None:
            return sock
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            except OSError:
                pass  # the kernel's cap applies; a smaller buffer only costs retries
            sock.bind(("::" if ipv6 else "0.0.0.0", 0))
            self.loop.add_reader(sock.fileno(), self._on_readable, sock)
        except BaseException:
            sock.close()
            raise
        self._sockets[family] = sock
        return sock

    def allocate_id(self) -> int:
        """A positive 31-bit key, skipping any still in flight after a wrap-around."""
        while True:
            key = self._next_id
            self._next_id = key + 1 if key < _MAX_ID else 1
            if key not in self._waiters:
                return key

    def waiter(self, key: int) -> W | None:
        return self._waiters.get(key)

    async def send_and_wait(
        self,
        sock: socket.socket,
        key: int,
        waiter: W,
        datagram: bytes,
        timeout: float,
        *,
        attempts: int | None = None,
        deadline: float = math.inf,
    ) -> T:
        """Send, resend every ``timeout`` (the same datagram), give up after ``attempts``
        sends or at ``deadline``, whichever comes first; RequestTimeout then.

        Attempt k ends at start + k x timeout, an absolute schedule: a loop that wakes up late
        shortens the next attempt instead of stretching the request's whole budget.
        """
        loop = self.loop
        start = loop.time()
        self._waiters[key] = waiter
        try:
            attempt = 0
            while (attempts is None or attempt < attempts) and loop.time() < deadline:
                if attempt:
                    self.stats["retries"] += 1
                    if waiter.future.done():  # cancelled by its timeout: a fresh one
                        waiter.future = loop.create_future()
                self._send(sock, datagram, waiter.address)
                attempt += 1
                try:
                    async with asyncio.timeout_at(min(start + attempt * timeout, deadline)):
                        result: T = await waiter.future
                        return result
                except TimeoutError:
                    continue
            self.stats["timeouts"] += 1
            raise RequestTimeout
        finally:
            if self._waiters.get(key) is waiter:
                del self._waiters[key]

    def close(self) -> None:
        """Close the sockets and fail every waiting request. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for sock in self._sockets.values():
            if not self.loop.is_closed():  # close() after asyncio.run() ended is allowed
                self.loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        for waiter in self._waiters.values():
            if not waiter.future.done():
                waiter.future.set_exception(SnmpError("SNMP client closed"))
        self._waiters.clear()

    def _send(self, sock: socket.socket, datagram: bytes, address: tuple[str, int]) -> None:
        try:
            sock.sendto(datagram, address)
        except OSError:
            # Full send buffer, ICMP error reported on the socket, no route: the datagram is
            # lost, and the retry timer handles it like any other loss.
            self.stats["send_errors"] += 1
        else:
            self.stats["sent"] += 1

    def _on_readable(self, sock: socket.socket) -> None:
        for _ in range(_RECV_BATCH):
            try:
                data, source = sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. ECONNREFUSED from an earlier ICMP port unreachable
            self.stats["received"] += 1
            self._on_datagram(data, source)

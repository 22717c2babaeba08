"""Our own SNMP v1/v2c request transport: one UDP socket per address family for every target.

pysnmp decodes each answer with pyasn1, which is ~85 % of a poll's CPU; this path encodes and
decodes with ``shared.ber`` instead (about 40x cheaper per response) and keeps the state of a
request in one dict entry keyed by request-id.

An answer is accepted only if it decodes as a Response-PDU, carries a request-id we are waiting
for, comes from the address the request went to, and has the request's version and community.
Anything else is counted in ``stats`` and dropped, so a stray, spoofed or malformed datagram
can at worst leave a request to time out, as a lost one would. Retries resend the same
datagram with the same request-id, so a late answer to an earlier attempt still counts.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared import ber
from shared.errors import BerDecodeError, SnmpError

from .types import Oid

# Requests are small, answers up to one UDP datagram; net-snmp agents cap at 64 kB.
_RECV_SIZE = 65535
# Answers read per readable event before giving the loop back to other callbacks.
_RECV_BATCH = 64
# A burst of answers from many NEs must not overflow the kernel buffer (a loss = a retry).
_RCVBUF = 4 * 1024 * 1024


class RequestTimeout(Exception):
    """No acceptable answer within timeout x (retries + 1); the caller words the message."""


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[ber.Response]
    address: tuple[str, int]
    version: int
    community: bytes = field(repr=False)


class V2cTransport:
    """Sends v1/v2c requests and matches their answers. Use inside one running event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sockets: dict[int, socket.socket] = {}
        self._pending: dict[int, _Pending] = {}
        self._next_id = random.randrange(1, 1 << 30)
        self._closed = False
        self.stats: dict[str, int] = {
            "sent": 0,
            "retries": 0,
            "received": 0,
            "malformed": 0,
            "unknown_request_id": 0,
            "wrong_source": 0,
            "wrong_community": 0,
            "wrong_version": 0,
            "send_errors": 0,
            "timeouts": 0,
        }

    async def request(
        self,
        address: tuple[str, int],
        ipv6: bool,
        version: int,
        community: bytes,
        pdu_type: int,
        oids: Sequence[Oid],
        *,
        max_repetitions: int = 0,
        timeout: float,
        retries: int,
    ) -> ber.Response:
        """Send one request and wait for its answer; RequestTimeout after all attempts.

        Attempt k ends at start + (k + 1) x timeout, an absolute schedule: a loop that wakes
        up late shortens the next attempt instead of stretching the whole budget.
        """
        if self._closed:
            raise SnmpError("SNMP transport is closed")
        sock = self._socket(ipv6)
        request_id = self._allocate_id()
        datagram = ber.encode_request(
            pdu_type, version, community, request_id, oids, max_repetitions=max_repetitions
        )
        loop = self._loop
        start = loop.time()
        pending = _Pending(loop.create_future(), address, version, community)
        self._pending[request_id] = pending
        try:
            for attempt in range(retries + 1):
                if attempt:
                    self.stats["retries"] += 1
                    if pending.future.done():  # cancelled by its timeout: a fresh one
                        pending.future = loop.create_future()
                self._send(sock, datagram, address)
                try:
                    async with asyncio.timeout_at(start + (attempt + 1) * timeout):
                        return await pending.future
                except TimeoutError:
                    continue
            self.stats["timeouts"] += 1
            raise RequestTimeout
        finally:
            if self._pending.get(request_id) is pending:
                del self._pending[request_id]

    def close(self) -> None:
        """Close the sockets and fail every waiting request. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for sock in self._sockets.values():
            if not self._loop.is_closed():  # close() after asyncio.run() ended is allowed
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(SnmpError("SNMP client closed"))
        self._pending.clear()

    # -- internals --------------------------------------------------------------------------

    def _allocate_id(self) -> int:
        # Positive 31-bit ids, skipping any still in flight after a wrap-around.
        while True:
            request_id = self._next_id
            self._next_id = request_id + 1 if request_id < 0x7FFFFFFF else 1
            if request_id not in self._pending:
                return request_id

    def _socket(self, ipv6: bool) -> socket.socket:
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
            self._loop.add_reader(sock.fileno(), self._on_readable, sock)
        except BaseException:
            sock.close()
            raise
        self._sockets[family] = sock
        return sock

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
            self._on_datagram(data, source)

    def _on_datagram(self, data: bytes, source: tuple[str, int]) -> None:
        stats = self.stats
        stats["received"] += 1
        try:
            response = ber.decode_response(data)
        except BerDecodeError:
            stats["malformed"] += 1
            return
        pending = self._pending.get(response.request_id)
        if pending is None:
            stats["unknown_request_id"] += 1  # late answer to a finished request, or a stray
            return
        if (source[0], source[1]) != pending.address:
            stats["wrong_source"] += 1
            return
        if response.version != pending.version:
            stats["wrong_version"] += 1
            return
        if response.community != pending.community:
            stats["wrong_community"] += 1
            return
        if not pending.future.done():
            pending.future.set_result(response)

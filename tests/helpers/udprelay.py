"""UDP go-betweens for tests on loopback: a server for any DatagramProtocol, and a relay to
an upstream agent whose answers a subclass may delay, alter or forge (``handle``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def udp_server(protocol: asyncio.DatagramProtocol) -> AsyncIterator[int]:
    """``protocol`` on a free 127.0.0.1 port; yields the port. A relay's requests still in
    flight are cancelled at the end."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: protocol, local_addr=("127.0.0.1", 0)
    )
    try:
        yield int(transport.get_extra_info("sockname")[1])
    finally:
        transport.close()
        if isinstance(protocol, UdpRelay):
            protocol.cancel()


class UdpRelay(asyncio.DatagramProtocol):
    """Each request is handled in a task of its own, kept in ``tasks`` until it ends; by
    default ``handle`` asks the upstream agent and relays its answer unchanged."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self.handle(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def handle(self, data: bytes, addr: tuple[str, int]) -> None:
        self.reply(await self.ask_upstream(data), addr)

    async def ask_upstream(self, data: bytes, timeout: float = 5.0) -> bytes:
        """Send ``data`` upstream from a socket of its own; the answer (TimeoutError if none
        comes within ``timeout``)."""
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            s.connect(self.upstream)
            await loop.sock_sendall(s, data)
            async with asyncio.timeout(timeout):
                return await loop.sock_recv(s, 65535)

    def reply(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()

"""A loopback TCP proxy that a test can cut and restore, to stage a server outage.

``cut()`` closes the listener and every proxied connection (clients see resets / refused
connections, as when a database host goes away); ``restore()`` listens again on the same
port, so clients configured with the proxy's address reconnect without knowing.
``stall()`` is the other kind of outage, a network that drops packets: connections stay
open but nothing flows either way (queries in flight hang, new connections are accepted but
never answered) until ``unstall()`` lets everything through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.connections = 0  # accepted since start: proves traffic really went through us
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def stall(self) -> None:
        self._flowing.clear()

    async def unstall(self) -> None:
        self._flowing.set()

    async def start(self) -> int:
        """Listen (a free port the first time, the same port after a cut); returns it."""
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()  # RST-like: no graceful FIN handshake for in-flight queries
        self._writers.clear()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
        self._flowing.set()  # connections held by a stall see their aborted writers and end

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)  # a cut aborts it even while it waits out a stall
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for p in pumps:
                p.cancel()
                self._tasks.discard(p)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()


class ThreadedProxy:
    """A ``TcpProxy`` on an event loop of its own (a daemon thread), for synchronous tests
    that drive agent processes: ``start``/``cut``/``restore``/``close`` block until done."""

    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.proxy = TcpProxy(target_host, target_port, host)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.is_cut = False

    @property
    def host(self) -> str:
        return self.proxy.host

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def connections(self) -> int:
        return self.proxy.connections

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> int:
        return self._call(self.proxy.start())

    def cut(self) -> None:
        self._call(self.proxy.cut())
        self.is_cut = True

    def stall(self) -> None:
        self._call(self.proxy.stall())

    def unstall(self) -> None:
        self._call(self.proxy.unstall())

    def restore(self) -> None:
        self._call(self.proxy.restore())
        self.is_cut = False

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self.proxy.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

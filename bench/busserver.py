"""A bus server in a process of its own, for benchmarks of a client against the agent's
``Bus`` (ROUTER, CURVE + ZAP with one allowed client key, or plain): the child builds its
routes with ``make_routes()`` (a top-level function: the process is spawned), binds, and
hands its endpoint and server key back; the context manager ends it.

    with ServedBus(make_routes, secure=True) as (endpoint, key):  # key: the client's pair
        with BusClient([endpoint], key) as client: ...
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from agent.bus import Bus
from agent.busauth import AllowList
from agent.busclient import Endpoint
from agent.keys import BusKey, KeyPair, generate
from shared.wire import KeyRole

Routes = dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]


def _serve(
    make_routes: Callable[[], Routes], secure: bool, client_public: str, conn: Connection
) -> None:
    async def main() -> None:
        pair = generate() if secure else None
        allow = AllowList([BusKey("bench", client_public, KeyRole.OPERATOR, 0.0, None, "")])
        bus = Bus("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", keypair=pair, allow=allow)
        for op, handler in make_routes().items():
            bus.route(op, handler)
        bus.bind()
        conn.send((bus.router_endpoint, pair.public if pair else ""))
        try:
            await bus.serve()
        finally:
            await bus.aclose()

    asyncio.run(main())


class ServedBus:
    """The server process; on entry its endpoint and the client's key pair."""

    def __init__(self, make_routes: Callable[[], Routes], secure: bool = True) -> None:
        self.key: KeyPair = generate()
        parent, child = mp.Pipe()
        self._conn = parent
        self._proc = mp.get_context("spawn").Process(
            target=_serve, args=(make_routes, secure, self.key.public, child)
        )

    def __enter__(self) -> tuple[Endpoint, KeyPair]:
        self._proc.start()
        if not self._conn.poll(30):
            self._stop()
            raise RuntimeError("the bench server did not start")
        address, server_key = self._conn.recv()
        return Endpoint(address, server_key), self.key

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        self._proc.terminate()
        self._proc.join(10)

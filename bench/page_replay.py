"""A reference for the federated walks of ``pool.alarms``: the same pages, made once,
replayed by one process over the same secured bus (the agent's ``Bus``, CURVE and ZAP),
walked by the same client code (``fetch_alarms``, pipelined). What is left is the bus and
the client: the floor under a federated walk on this machine, measured in the same run so
that a figure taken on a faster or busier day reads beside its own floor.

    pages = capture(client, limit)           # one real walk, every page's result as bytes
    with Replay(pages) as (endpoint, key):   # a server process answering by cursor
        ms, cpu = walk_replay(endpoint, key, repeat, limit)
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from itertools import pairwise
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

import msgspec

from agent.alarmpages import fetch_alarms, next_of
from agent.bus import Bus
from agent.busauth import AllowList
from agent.busclient import BusClient, Endpoint
from agent.keys import BusKey, KeyPair, generate
from shared.wire import KeyRole

MAX_PAGES = 1000


def capture(client: BusClient, limit: int, timeout: float = 30.0) -> list[bytes]:
    """Every page of one walk of the full list, each page's result as it came."""
    pages: list[bytes] = []
    cursor: str | None = None
    while len(pages) < MAX_PAGES:
        args: dict[str, Any] = {"limit": limit, "deadline": 10.0}
        if cursor is not None:
            args["cursor"] = cursor
        raw = client.request("pool.alarms", args, timeout=timeout, raw=True)
        pages.append(bytes(raw))
        cursor = next_of(raw)
        if cursor is None:
            return pages
    raise RuntimeError(f"more than {MAX_PAGES} pages")


def _serve(pages: list[bytes], client_public: str, conn: Connection) -> None:
    # The page after each cursor, as the real agent gave it; the first has no cursor.
    after = {"": pages[0]} | {next_of(msgspec.Raw(p)) or "": n for p, n in pairwise(pages)}

    async def main() -> None:
        pair = generate()
        allow = AllowList([BusKey("bench", client_public, KeyRole.OPERATOR, 0.0, None, "")])
        bus = Bus("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", keypair=pair, allow=allow)

        async def alarms(args: dict[str, Any]) -> msgspec.Raw:
            return msgspec.Raw(after[str(args.get("cursor") or "")])

        bus.route("pool.alarms", alarms)
        bus.bind()
        conn.send((bus.router_endpoint, pair.public))
        try:
            await bus.serve()
        finally:
            await bus.aclose()

    asyncio.run(main())


class Replay:
    """The replaying server in a process of its own (as an agent is), ended on exit."""

    def __init__(self, pages: list[bytes]) -> None:
        self.key: KeyPair = generate()
        parent, child = mp.Pipe()
        self._conn = parent
        ctx = mp.get_context("spawn")
        self._proc = ctx.Process(target=_serve, args=(pages, self.key.public, child))

    def __enter__(self) -> tuple[Endpoint, KeyPair]:
        self._proc.start()
        if not self._conn.poll(30):
            self._stop()
            raise RuntimeError("the replay server did not start")
        address, server_key = self._conn.recv()
        return Endpoint(address, server_key), self.key

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        self._proc.terminate()
        self._proc.join(10)


def walk_replay(
    endpoint: Endpoint, key: KeyPair, repeat: int, limit: int
) -> tuple[list[float], float, int]:
    """Milliseconds of each walk of the replayed pages, this client's CPU ms per walk,
    and the alarms a walk gave (to check it is the whole list)."""
    out: list[float] = []
    items = 0
    with BusClient([endpoint], key, timeout=30.0) as client:
        fetch_alarms(client, limit=limit)  # connect, handshake, warm up
        p0 = time.process_time()
        for _ in range(repeat):
            t = time.perf_counter()
            items = len(fetch_alarms(client, limit=limit)["items"])
            out.append((time.perf_counter() - t) * 1000)
        cpu = (time.process_time() - p0) * 1000 / max(repeat, 1)
    return out, cpu, items

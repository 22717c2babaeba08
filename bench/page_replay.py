"""A reference for the federated walks of ``pool.alarms``: the same pages, made once,
replayed by one process over the same secured bus (the agent's ``Bus``, CURVE and ZAP),
walked by the same client code (``fetch_alarms``, pipelined). What is left is the bus and
the client: the floor under a federated walk on this machine, measured in the same run so
that a figure taken on a faster or busier day reads beside its own floor.

    pages = capture(client, limit)           # one real walk, every page's result as bytes
    with replay(pages) as (endpoint, key):   # a server process answering by cursor
        ms, cpu, items = walk_replay(endpoint, key, repeat, limit)
"""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import msgspec

from agent.alarmpages import fetch_alarms, next_of
from agent.busclient import BusClient, Endpoint
from agent.keys import KeyPair
from bench.busserver import Routes, ServedBus

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


class _Replayed:
    """The routes of the replaying server: the page after each cursor, as the real agent
    gave it (the first has no cursor). Picklable, for the spawned server process."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages

    def __call__(self) -> Routes:
        after = {"": self.pages[0]}
        after |= {next_of(msgspec.Raw(p)) or "": n for p, n in pairwise(self.pages)}

        async def alarms(args: dict[str, Any]) -> msgspec.Raw:
            return msgspec.Raw(after[str(args.get("cursor") or "")])

        return {"pool.alarms": alarms}


def replay(pages: list[bytes]) -> ServedBus:
    """The replaying server in a process of its own (as an agent is), ended on exit."""
    return ServedBus(_Replayed(pages))


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

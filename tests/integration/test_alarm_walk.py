"""A client walking ``pool.alarms`` page by page (agent/alarmpages.py), pipelined: each next
page is asked before the current one is parsed. Real buses on loopback: 3 members' parts,
a federating agent serving ``pool.alarms``, and the sync and async clients."""

from __future__ import annotations

import asyncio
import threading

import pytest
import zmq.asyncio

from agent.alarmpages import afetch_alarms, fetch_alarms
from agent.bus import Bus
from agent.busclient import AsyncBusClient, BusClient, Endpoint
from agent.federation import AlarmParts, Federation
from agent.peers import Peers
from shared.alarmpage import Generations
from shared.alarms import Alarm, AlarmStore
from shared.federated import worst_first
from shared.model import AlarmKey, Severity

pytestmark = pytest.mark.timeout(60)
NODES = ("a1", "a2", "a3")


def store_of(node: str, n: int) -> AlarmStore:
    store = AlarmStore()
    sevs = (Severity.CRITICAL, Severity.MAJOR, Severity.MINOR)
    store.restore(
        Alarm(AlarmKey(f"{node}-ne{i % 5}", f"if{i}", "link-down"), sevs[i % 3], "down", 1.0,
              float(i % 4), 1.0)
        for i in range(n)
    )  # fmt: skip
    return store


class Pool:
    """3 members on real buses; a1 federates. ``asked``: the cursors of the pages a1 was
    asked for, in order (None for a first page)."""

    def __init__(self) -> None:
        self.stores = {n: store_of(n, k) for n, k in zip(NODES, (23, 31, 17), strict=True)}
        self.parts = {n: AlarmParts(n, self._alarms(n), self._store(n)) for n in NODES}
        self.buses = {n: Bus("tcp://127.0.0.1:0", "tcp://127.0.0.1:0") for n in NODES}
        self.asked: list[str | None] = []
        for n, bus in self.buses.items():
            bus.route("alarms.page", self.parts[n].page)
            bus.bind()

    def _alarms(self, node: str):
        return lambda nes: iter(self.stores[node])

    def _store(self, node: str):
        return lambda: self.stores[node]

    def truth(self) -> list[dict]:
        return worst_first(
            a.to_dict() | {"agent": n} for n, s in self.stores.items() for a in s if a.active
        )

    async def start(self) -> None:
        self.ctx = zmq.asyncio.Context()
        self.peers = Peers(self.ctx, "a1")
        await self.peers.update({n: self.buses[n].router_endpoint for n in NODES[1:]})
        local = {"alarms.page": self.parts["a1"].page}
        self.fed = Federation("a1", self.peers, lambda: list(NODES), lambda ne: None, local)

        async def alarms(args: dict) -> dict:
            self.asked.append(args.get("cursor"))
            return await self.fed.alarms(args)

        self.buses["a1"].route("pool.alarms", alarms)
        self.tasks = [asyncio.create_task(b.serve()) for b in self.buses.values()]
        self.endpoint = Endpoint(self.buses["a1"].router_endpoint)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.fed.aclose()
        await self.peers.aclose()
        self.ctx.term()
        for b in self.buses.values():
            await b.aclose()


def sync_walk(pool: Pool, limit: int) -> dict:
    """``fetch_alarms`` in a thread of its own (it blocks), as the CLI runs it."""
    out: dict = {}

    def run() -> None:
        try:
            with BusClient([pool.endpoint], timeout=10.0) as client:
                out["reply"] = fetch_alarms(client, {"deadline": 5.0}, limit=limit)
        except Exception as e:  # shown by the test that reads the reply
            out["reply"] = e

    out["thread"] = threading.Thread(target=run)
    out["thread"].start()
    return out


async def test_both_clients_get_every_alarm_once_asking_each_page_once():
    pool = Pool()
    await pool.start()
    try:
        truth = pool.truth()
        async with AsyncBusClient([pool.endpoint], timeout=10.0) as client:
            reply = await afetch_alarms(client, {"deadline": 5.0}, limit=6)
        assert reply["items"] == truth and reply["pages"] == 12 and not reply["partial"]
        # Each page asked once: the one sent ahead is the one used.
        assert pool.asked[0] is None and len(pool.asked) == 12 == len(set(pool.asked))

        pool.asked.clear()
        walk = sync_walk(pool, 7)
        while walk["thread"].is_alive():
            await asyncio.sleep(0.01)
        reply = walk["reply"]
        assert reply["items"] == truth and reply["pages"] == 11
        assert pool.asked[0] is None and len(pool.asked) == 11 == len(set(pool.asked))
    finally:
        await pool.close()


async def test_a_generation_lost_with_a_page_asked_ahead_starts_again_and_stays_exact():
    pool = Pool()
    await pool.start()
    try:
        truth = pool.truth()
        for walk_with in ("async", "sync"):
            # a2 forgets its snapshots when the second page is asked (every page after the
            # first is asked ahead): a later page is told "expired", the client starts
            # again, and the answer is still every alarm once.
            pool.asked.clear()
            forget = pool.buses["a1"].handlers["pool.alarms"]

            async def forgetting(args: dict, forget=forget) -> dict:
                if len(pool.asked) == 1:
                    pool.parts["a2"].snapshots = Generations()
                return await forget(args)

            pool.buses["a1"].route("pool.alarms", forgetting)
            if walk_with == "async":
                async with AsyncBusClient([pool.endpoint], timeout=10.0) as client:
                    reply = await afetch_alarms(client, {"deadline": 5.0}, limit=6)
            else:
                walk = sync_walk(pool, 6)
                while walk["thread"].is_alive():
                    await asyncio.sleep(0.01)
                reply = walk["reply"]
            pool.buses["a1"].route("pool.alarms", forget)
            assert reply["items"] == truth and not reply["partial"]
            assert pool.asked.count(None) == 2  # started again once
    finally:
        await pool.close()


def test_the_next_cursor_is_read_first_or_else_from_the_whole_page():
    import msgspec

    from agent.alarmpages import next_of

    enc = msgspec.json.encode
    assert next_of(msgspec.Raw(enc({"next": "eyJnIjoi-_x=", "items": [1]}))) == "eyJnIjoi-_x="
    assert next_of(msgspec.Raw(enc({"next": None, "items": []}))) is None
    # Another agent's order (an older one writes items first): read past the items.
    assert next_of(msgspec.Raw(enc({"items": [{"next": "no"}], "next": "yes"}))) == "yes"
    assert next_of(msgspec.Raw(enc({"items": []}))) is None

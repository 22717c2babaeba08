"""Links between agents: real ZeroMQ ROUTERs (agent.bus.Bus) and DEALERs on loopback, over
CURVE with keys allow-listed as a pool's database would hold them."""

from __future__ import annotations

import asyncio
import time

import pytest
import zmq.asyncio

from agent.bus import Bus
from agent.busauth import AllowList
from agent.keys import BusKey, KeyPair, generate
from agent.peers import PeerError, Peers, PeerTimeout
from shared.wire import KeyRole

ME = generate()  # this agent's key pair
CONSOLE = generate()  # an operator's key: may query, may not take part in the pool
STRANGER = generate()  # allowed nowhere
ALLOWED = [
    BusKey("me", ME.public, KeyRole.AGENT, 0.0, None, ""),
    BusKey("console", CONSOLE.public, KeyRole.OPERATOR, 0.0, None, ""),
]

pytestmark = pytest.mark.timeout(30)


async def start_bus(seen: list) -> tuple[Bus, asyncio.Task]:
    bus = Bus(
        "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", keypair=generate(), allow=AllowList(ALLOWED)
    )
    bus.bind()

    async def echo(args):
        return {"echo": args}

    async def note(args):
        seen.append(args)

    async def slow(args):
        await asyncio.sleep(5)

    async def broken(args):
        raise KeyError("missing")

    bus.route("echo", echo)
    bus.route("note", note)
    bus.route("slow", slow)
    bus.route("broken", broken)
    bus.route("elect", note, role=KeyRole.AGENT)
    return bus, asyncio.create_task(bus.serve())


def bus_public(bus: Bus) -> str:
    return bus.public_key


async def wait_for(probe, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_request_notify_gather_and_a_dead_peer_costs_one_deadline():
    seen1: list = []
    seen2: list = []
    bus1, t1 = await start_bus(seen1)
    bus2, t2 = await start_bus(seen2)
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "me", ME)
    try:
        keys = {"a1": bus_public(bus1), "a2": bus_public(bus2), "gone": generate().public}
        await peers.update(
            {"a1": bus1.router_endpoint, "a2": bus2.router_endpoint, "gone": "tcp://127.0.0.1:9"},
            keys,
        )
        assert await peers.request("a1", "echo", {"x": 1}, timeout=5) == {"echo": {"x": 1}}
        await wait_for(lambda: peers.broadcast("note", {"n": 1}) >= 2, 5)
        await wait_for(lambda: seen1 and seen2, 5)
        assert bus1.stats["notifications"] >= 1
        t0 = time.monotonic()
        got = await peers.gather("echo", {"y": 2}, timeout=0.5)
        took = time.monotonic() - t0
        assert got.results == {"a1": {"echo": {"y": 2}}, "a2": {"echo": {"y": 2}}}
        assert set(got.failed) == {"gone"} and got.partial
        assert took < 3.0  # one deadline for all, not one per peer
        with pytest.raises(PeerTimeout):
            await peers.request("a1", "slow", {}, timeout=0.3)
        with pytest.raises(PeerError) as ei:
            await peers.request("a2", "broken", {}, timeout=5)
        assert ei.value.code == "bad-request"
        assert await peers.request("a1", "elect", {}, timeout=5) is None  # an agent key may
        # a member that leaves is no longer asked
        await peers.update({"a1": bus1.router_endpoint}, keys)
        assert peers.nodes == ["a1"]
        assert not peers.notify("a2", "note", {})
    finally:
        await peers.aclose()
        ctx.term()
        for t in (t1, t2):
            t.cancel()
        for b in (bus1, bus2):
            await b.aclose()


async def the_caller(key: KeyPair, bus: Bus, op: str) -> object:
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "x", key)
    try:
        await peers.update({"a1": bus.router_endpoint}, {"a1": bus_public(bus)})
        return await peers.request("a1", op, {}, timeout=1.0)
    finally:
        await peers.aclose()
        ctx.term()


async def test_console_keys_cannot_take_part_and_strangers_are_not_admitted():
    bus, task = await start_bus([])
    try:
        assert await the_caller(CONSOLE, bus, "echo") == {"echo": {}}
        with pytest.raises(PeerError) as ei:
            await the_caller(CONSOLE, bus, "elect")
        assert ei.value.code == "forbidden"
        with pytest.raises(PeerTimeout):  # ZAP refuses the handshake: no answer at all
            await the_caller(STRANGER, bus, "echo")
        assert bus.stats["rejected_forbidden"] == 1
        assert bus.stats["rejected_unknown_key"] >= 1
    finally:
        task.cancel()
        await bus.aclose()


async def test_a_peer_without_a_known_key_gets_no_link():
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "me", ME)
    try:
        await peers.update({"a1": "tcp://127.0.0.1:9"}, {})
        assert peers.nodes == [] and peers.stats["no_key"] == 1
    finally:
        await peers.aclose()
        ctx.term()


async def test_a_link_refused_at_first_connects_once_its_key_is_allowed():
    """ZeroMQ gives up on a refused connection; the link tries again by itself."""
    late = generate()
    bus, task = await start_bus([])
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "late", late)
    try:
        await peers.update({"a1": bus.router_endpoint}, {"a1": bus_public(bus)})
        with pytest.raises(PeerTimeout):
            await peers.request("a1", "echo", {}, timeout=0.5)
        bus.allow.replace([*ALLOWED, BusKey("late", late.public, KeyRole.AGENT, 0.0, None, "")])
        for _ in range(50):  # bounded: the retries back off from 0.1 s
            try:
                assert await peers.request("a1", "echo", {}, timeout=0.5) == {"echo": {}}
                break
            except PeerTimeout:
                continue
        else:
            pytest.fail("the link never connected again")
        assert peers.stats["refused"] >= 1
    finally:
        await peers.aclose()
        ctx.term()
        task.cancel()
        await bus.aclose()


async def test_a_reopened_link_carries_requests_and_notes_again():
    """What the master does to a peer that never hears it (``Relink``): the link is
    closed and opened again to the same endpoint and key, and works; an unknown node is
    no link to reopen."""
    seen: list = []
    bus, task = await start_bus(seen)
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "me", ME)
    try:
        await peers.update({"a1": bus.router_endpoint}, {"a1": bus_public(bus)})
        assert await peers.request("a1", "echo", {"x": 1}, timeout=5) == {"echo": {"x": 1}}
        assert await peers.relink("a1") and peers.stats["relinked"] == 1
        assert peers.nodes == ["a1"]
        assert await peers.request("a1", "echo", {"x": 2}, timeout=5) == {"echo": {"x": 2}}
        await wait_for(lambda: peers.notify("a1", "note", {"n": 1}), 5)
        await wait_for(lambda: seen == [{"n": 1}], 5)
        assert not await peers.relink("nobody") and peers.stats["relinked"] == 1
    finally:
        await peers.aclose()
        ctx.term()
        task.cancel()
        await bus.aclose()

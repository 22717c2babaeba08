"""The bus's own defences, on real CURVE sockets in one process: requests in flight per
caller are bounded (beyond: "busy"), a handler bug is logged and answered "internal", a key
revoked while connected loses its access at its next request, and the async client fails
over to another agent when one does not answer."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agent.bus import Bus
from agent.busauth import AllowList, AllowListKeeper
from agent.busclient import (
    AsyncBusClient,
    BusClient,
    Endpoint,
    RequestFailed,
    TooLarge,
    Unreachable,
)
from agent.keys import BusKey, generate
from shared.wire import KeyRole

pytestmark = pytest.mark.timeout(60)

OPERATOR = generate()


def allowed(*extra: BusKey) -> list[BusKey]:
    return [BusKey("op", OPERATOR.public, KeyRole.OPERATOR, 0.0, None, ""), *extra]


async def serving(
    max_in_flight: int = 64, keys: list[BusKey] | None = None, max_message: int = 4 << 20
):
    bus = Bus(
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:0",
        keypair=generate(),
        allow=AllowList(keys or allowed()),
        max_in_flight=max_in_flight,
        max_message=max_message,
    )
    release = asyncio.Event()

    async def hold(args):
        await release.wait()
        return "done"

    async def bug(args):
        raise RuntimeError("a handler bug")

    async def ping(args):
        return "pong"

    async def big(args):
        return ["x" * 100] * int(args.get("n", 1))

    bus.route("big", big)
    bus.route("hold", hold)
    bus.route("bug", bug)
    bus.route("ping", ping)
    bus.bind()
    return bus, asyncio.create_task(bus.serve()), release


def endpoint(bus: Bus) -> Endpoint:
    return Endpoint(bus.router_endpoint, bus.public_key, "a1")


async def test_requests_in_flight_per_caller_are_bounded():
    bus, task, release = await serving(max_in_flight=4)
    client = AsyncBusClient([endpoint(bus)], OPERATOR, timeout=10.0)
    try:
        held = [asyncio.create_task(client.request("hold")) for _ in range(4)]
        while sum(bus._in_flight.values()) < 4:  # bounded by the test timeout
            await asyncio.sleep(0.01)
        with pytest.raises(RequestFailed) as ei:
            await client.request("ping")
        assert ei.value.code == "busy" and bus.stats["rejected_busy"] == 1
        release.set()
        assert await asyncio.gather(*held) == ["done"] * 4
        assert await client.request("ping") == "pong"  # the bound frees with the answers
    finally:
        await client.aclose()
        task.cancel()
        await bus.aclose()


async def test_a_handler_bug_is_logged_and_answered_as_internal(caplog):
    bus, task, _ = await serving()
    client = AsyncBusClient([endpoint(bus)], OPERATOR, timeout=5.0)
    try:
        with caplog.at_level(logging.ERROR, logger="agent.bus"), pytest.raises(RequestFailed) as ei:
            await client.request("bug")
        assert ei.value.code == "internal" and "RuntimeError" in str(ei.value)
        assert "a handler bug" not in str(ei.value)  # the details stay in the log
        assert "handler bug failed" in caplog.text and "a handler bug" in caplog.text
        assert bus.stats["internal_errors"] == 1
        assert await client.request("ping") == "pong"
    finally:
        await client.aclose()
        task.cancel()
        await bus.aclose()


async def test_a_key_revoked_while_connected_loses_access_at_its_next_request():
    temp = generate()
    extra = BusKey("temp", temp.public, KeyRole.OPERATOR, 0.0, None, "")
    bus, task, _ = await serving(keys=allowed(extra))
    client = AsyncBusClient([endpoint(bus)], temp, timeout=5.0)
    try:
        assert await client.request("ping") == "pong"
        bus.allow.replace(allowed())  # what the next refresh of the allow-list does
        with pytest.raises(RequestFailed) as ei:
            await client.request("ping")
        assert ei.value.code == "forbidden" and bus.stats["rejected_revoked"] == 1
    finally:
        await client.aclose()
        task.cancel()
        await bus.aclose()


async def test_the_async_client_moves_to_another_agent_when_one_stops_answering():
    bus1, t1, _ = await serving()
    bus2, t2, _ = await serving()
    client = AsyncBusClient([endpoint(bus1), endpoint(bus2)], OPERATOR, timeout=1.0)
    try:
        assert await client.request("ping") == "pong"
        first = client.endpoint
        assert first is not None
        dead, alive = (bus1, bus2) if first.address == bus1.router_endpoint else (bus2, bus1)
        (t1 if dead is bus1 else t2).cancel()
        await dead.aclose()
        results = await asyncio.gather(*(client.request("ping") for _ in range(5)))
        assert results == ["pong"] * 5
        assert client.endpoint is not None
        assert client.endpoint.address == alive.router_endpoint
    finally:
        await client.aclose()
        for t in (t1, t2):
            t.cancel()
        for b in (bus1, bus2):
            await b.aclose()


async def test_a_key_allowed_a_moment_ago_is_admitted_at_its_first_handshake():
    """A new agent's key is in the database before it connects, but not yet in the list
    this bus read: ZAP re-reads the list once before refusing (ZeroMQ would not retry)."""
    newcomer = generate()
    rows = allowed()
    keeper = AllowListKeeper(AllowList(rows), lambda: list(rows), None)
    bus = Bus(
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:0",
        keypair=generate(),
        allow=keeper.allow,
        recheck=keeper.recheck,
    )

    async def ping(args):
        return "pong"

    bus.route("ping", ping)
    bus.bind()
    task = asyncio.create_task(bus.serve())
    rows.append(BusKey("newcomer", newcomer.public, KeyRole.AGENT, 0.0, None, ""))
    client = AsyncBusClient([endpoint(bus)], newcomer, timeout=5.0)
    stranger = AsyncBusClient([endpoint(bus)], generate(), timeout=0.5)
    try:
        assert await client.request("ping") == "pong"
        assert bus.stats["rejected_unknown_key"] == 0
        with pytest.raises(Unreachable):
            await stranger.request("ping")
        assert bus.stats["rejected_unknown_key"] == 1
    finally:
        await client.aclose()
        await stranger.aclose()
        task.cancel()
        await bus.aclose()


async def test_live_events_reach_allowed_subscribers_only():
    bus, task, _ = await serving()
    ops = AsyncBusClient([endpoint(bus)], OPERATOR, timeout=5.0)
    strangers = AsyncBusClient([endpoint(bus)], generate(), timeout=5.0)
    sub = ops.subscribe(bus.pub_endpoint, ["event"])
    spy = strangers.subscribe(bus.pub_endpoint, ["event"])
    try:
        got = None
        for i in range(100):  # PUB/SUB slow joiner: publish until one arrives (bounded)
            bus.publish("event", {"n": i})
            if await sub.poll(50):
                got = await sub.recv_multipart()
                break
        assert got is not None and got[0] == b"event"
        bus.publish("event", {"n": "secret"})
        assert not await spy.poll(300)  # ZAP refused it: nothing is ever delivered
        assert bus.stats["rejected_unknown_key"] >= 1
    finally:
        sub.close(linger=0)
        spy.close(linger=0)
        await ops.aclose()
        await strangers.aclose()
        task.cancel()
        await bus.aclose()


async def test_too_large_replies_and_requests_are_refused_at_once_under_their_id():
    bus, task, _ = await serving(max_message=8192)
    aclient = AsyncBusClient([endpoint(bus)], OPERATOR, timeout=20.0)
    sclient = BusClient([endpoint(bus)], OPERATOR, timeout=20.0)
    try:
        assert len(await aclient.request("big", {"n": 10})) == 10  # what fits is answered
        t0 = asyncio.get_running_loop().time()
        with pytest.raises(TooLarge, match="above the bus limit of 8192"):
            await aclient.request("big", {"n": 1000})
        with pytest.raises(TooLarge, match="ask for less"):
            await asyncio.to_thread(sclient.request, "big", {"n": 1000})
        # A request too large: refused under its own id, so the blocking client sees it.
        with pytest.raises(TooLarge, match="exceeds 8192"):
            await asyncio.to_thread(sclient.request, "ping", {"pad": "y" * 9000})
        took = asyncio.get_running_loop().time() - t0
        assert took < 10.0, f"{took:.1f} s: waited, not refused"
        assert bus.stats["rejected_oversize_reply"] == 2 and bus.stats["rejected_oversize"] == 1
        assert bus.stats["errors"] == 3
        assert await aclient.request("ping") == "pong"  # the connection is still good
    finally:
        sclient.close()
        await aclient.aclose()
        task.cancel()
        await bus.aclose()

"""Pool-wide live events over real PUB/SUB sockets: a client on one agent sees the others'
events exactly once, in order per origin, and nothing a peer says on another's behalf."""

from __future__ import annotations

import asyncio
import time

import pytest
import zmq
import zmq.asyncio

from agent.bus import Bus
from agent.busauth import AllowList
from agent.keys import BusKey, generate, secure_client
from agent.relay import Relay
from shared.livefeed import FeedTracker, Sequencer, Stamp, Verdict
from shared.wire import KeyRole, decode_publish

pytestmark = pytest.mark.timeout(30)


async def test_each_peer_event_reaches_a_client_on_another_agent_once():
    # Over CURVE, as in a pool: the agents' PUBs admit allow-listed keys only.
    agent_key, console_key = generate(), generate()
    allowed = [
        BusKey("agents", agent_key.public, KeyRole.AGENT, 0.0, None, ""),
        BusKey("console", console_key.public, KeyRole.VIEWER, 0.0, None, ""),
    ]
    buses = {
        n: Bus(
            "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", keypair=generate(), allow=AllowList(allowed)
        )
        for n in ("a1", "a2", "a3")
    }
    for b in buses.values():
        b.bind()
    ctx = zmq.asyncio.Context()

    def secure(sock, node):
        secure_client(sock, agent_key, buses[node].public_key)

    relays = {n: Relay(ctx, n, buses[n].publish, secure) for n in buses}
    pubs = {n: b.pub_endpoint for n, b in buses.items()}
    client = ctx.socket(zmq.SUB)
    client.setsockopt(zmq.SUBSCRIBE, b"")
    secure_client(client, console_key, buses["a1"].public_key)
    client.connect(buses["a1"].pub_endpoint)
    try:
        for r in relays.values():
            await r.update(pubs)
        stamps = {n: Sequencer(n, f"run-{n}") for n in ("a2", "a3")}
        tracker = FeedTracker()
        got: list[dict] = []
        deadline = time.monotonic() + 15
        # Slow joiners: publish probes until each origin's events come through a1.
        while {b.get("origin") for b in got} != {"a2", "a3"}:
            assert time.monotonic() < deadline, "relayed events never arrived"
            for n, s in stamps.items():
                buses[n].publish("event", s.stamp({"kind": "probe"}))
            await asyncio.sleep(0.05)
            while await client.poll(0):
                got.append(decode_publish(await client.recv_multipart())[1])
        got.clear()
        tracker.reset()
        # Now a steady stream: every event once, in order per origin, via a1.
        for _ in range(200):
            for n, s in stamps.items():
                buses[n].publish("alarm", s.stamp({"kind": "alarm"}))
        buses["a2"].publish("alarm", {"origin": "a3", "run": "x", "seq": 1})  # spoof
        end = time.monotonic() + 10
        while len(got) < 400 and time.monotonic() < end:
            if await client.poll(100):
                got.append(decode_publish(await client.recv_multipart())[1])
        await asyncio.sleep(0.3)
        while await client.poll(0):
            got.append(decode_publish(await client.recv_multipart())[1])
        verdicts = [tracker.see(Stamp.of(b)) for b in got]
        assert len(got) == 400, f"{len(got)} relayed events, expected 400"
        assert all(b["via"] == "a1" for b in got)
        assert verdicts.count(Verdict.DUPLICATE) == 0 and verdicts.count(Verdict.GAP) == 0
        assert relays["a1"].stats["foreign"] >= 1
        assert relays["a1"].stats["relayed"] >= 400
    finally:
        client.close(linger=0)
        for r in relays.values():
            await r.aclose()
        ctx.term()
        for b in buses.values():
            await b.aclose()

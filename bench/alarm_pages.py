"""The code path of a paged ``pool.alarms`` without a pool around it: 3 members' alarm parts
(agent/federation.py ``AlarmParts``, real ``Alarm`` objects), the federating agent
(``Federation``) and a client (``afetch_alarms``), each on a real bus over loopback ZeroMQ,
all in this one process and one core. What it costs to walk every page of ``--alarms``
standing alarms when nothing else competes: the floor under bench/pool_services.py's
figure, and the harness to profile (``--profile FILE`` writes cProfile stats of the walks
alone, read with ``python -m pstats FILE``).

Each member holds its alarms in a real ``AlarmStore``; before each walk ``--churn`` of the
NEs are polled again (every alarm of theirs raised again: a new ``last_seen``, as the
agents' polls do between two walks), so the members' kept rows are partly stale, as in a
polled pool. ``--churn 1`` makes every row anew for each walk.

``--client-process``: the walks are made by a client in a process of its own (sync
``fetch_alarms``, as the CLI), alternately pipelined and not (each next page asked before
or after this one is parsed), to tell what the pipelining gives when the client has a core
of its own; the members' alarms do not change between those walks.

    .venv/bin/python bench/alarm_pages.py [--alarms 50000] [--repeat 30] [--page 5000]
        [--churn 0.02] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing as mp
import random
import sys
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import zmq.asyncio  # noqa: E402

from agent.alarmpages import afetch_alarms, fetch_alarms  # noqa: E402
from agent.bus import Bus  # noqa: E402
from agent.busclient import AsyncBusClient, BusClient, Endpoint  # noqa: E402
from agent.federation import AlarmParts, Federation, Local  # noqa: E402
from agent.peers import Peers  # noqa: E402
from bench.poolbench import load_average, percentile  # noqa: E402
from shared.alarms import Alarm, AlarmStore  # noqa: E402
from shared.model import AlarmKey, Severity  # noqa: E402

NODES = ("a1", "a2", "a3")
TARGET_FULL_P99 = 250.0  # ms, the target (for 3 agent processes, not one)


def alarms_of(member: int, total: int) -> AlarmStore:
    """Link-down alarms as the scale lab's polls raise them: 36 ports of each NE."""
    now = time.time()
    out = []
    for i in range(member, total, len(NODES)):
        key = AlarmKey(f"rtr{i // 36:04d}", f"ifIndex={i % 36 + 1}", "link-down")
        text = f"Interface GigabitEthernet0/{i % 36 + 1} is down (admin up)"
        seen = now - random.random() * 60
        out.append(Alarm(key, Severity.MAJOR, text, now - 600, seen, now - 600))
    store = AlarmStore()
    store.restore(out)
    return store


def poll_again(store: AlarmStore, share: float) -> None:
    """``share`` of the NEs polled again: each of their alarms raised anew."""
    now = time.time()
    nes = store.nes()
    for ne in random.sample(nes, round(len(nes) * share)):
        for a in store.for_ne(ne):
            store.raise_(a.key, a.severity, a.text, now)


def held(node: str, store: AlarmStore) -> AlarmParts:
    """A member's part as agent/poolservice.py wires it to the agent's store."""

    def alarms(nes: frozenset[str]) -> Iterable[Alarm]:
        return (a for ne in sorted(nes) for a in store.for_ne(ne)) if nes else iter(store)

    return AlarmParts(node, alarms, lambda: store)


def client_walks(endpoint: str, repeat: int, page: int, conn: Connection) -> None:
    """In a process of its own: ``repeat`` walks each way, alternating; wall and CPU ms."""
    out: dict[str, tuple[list[float], list[float]]] = {
        "pipelined": ([], []),
        "one by one": ([], []),
    }
    with BusClient([Endpoint(endpoint)], timeout=30.0) as client:
        for i in range(2 * repeat):
            label = "pipelined" if i % 2 == 0 else "one by one"
            t, c = time.perf_counter(), time.process_time()
            reply = fetch_alarms(
                client, {"deadline": 10.0}, 30.0, limit=page, pipelined=label == "pipelined"
            )
            out[label][0].append((time.perf_counter() - t) * 1000)
            out[label][1].append((time.process_time() - c) * 1000)
            assert not reply["partial"]
    conn.send(out)


def walks_apart(endpoint: str, repeat: int, page: int) -> dict[str, tuple[list, list]]:
    ours, theirs = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(
        target=client_walks, args=(endpoint, repeat, page, theirs)
    )
    proc.start()
    try:
        got: dict[str, tuple[list, list]] = ours.recv()
    finally:
        proc.join(30)
    return got


async def run(
    total: int,
    repeat: int,
    page: int,
    churn: float,
    prof: cProfile.Profile | None,
    apart: bool = False,
) -> tuple[list[float], list[float]]:
    buses: dict[str, Bus] = {}
    parts: dict[str, AlarmParts] = {}
    stores: dict[str, AlarmStore] = {}
    for i, node in enumerate(NODES):
        stores[node] = alarms_of(i, total)
        parts[node] = held(node, stores[node])
        bus = buses[node] = Bus("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
        bus.route("alarms.page", parts[node].page)
        bus.bind()
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, NODES[0])
    await peers.update({n: buses[n].router_endpoint for n in NODES[1:]})
    local: dict[str, Local] = {"alarms.page": parts[NODES[0]].page}
    fed = Federation(NODES[0], peers, lambda: list(NODES), lambda ne: None, local)
    buses[NODES[0]].route("pool.alarms", fed.alarms)
    serving = [asyncio.create_task(b.serve()) for b in buses.values()]
    client = AsyncBusClient([Endpoint(buses[NODES[0]].router_endpoint)], timeout=30.0)
    out: list[float] = []
    cpu: list[float] = []
    try:
        if apart:
            ab = await asyncio.to_thread(walks_apart, buses[NODES[0]].router_endpoint, repeat, page)
            for label, (ms, cs) in ab.items():
                print(
                    f"  client process, {label:13s}: p50 {percentile(ms, 50):7.1f} ms  "
                    f"p99 {percentile(ms, 99):7.1f} ms  client CPU p50 "
                    f"{percentile(cs, 50):6.1f} ms  (n={len(ms)})",
                    flush=True,
                )
        for _ in range(0 if apart else repeat):
            for store in stores.values():
                poll_again(store, churn)
            if prof is not None:
                prof.enable()
            t, c = time.perf_counter(), time.process_time()
            reply = await afetch_alarms(client, {"deadline": 10.0}, timeout=30.0, limit=page)
            out.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            if prof is not None:
                prof.disable()
            assert len(reply["items"]) == total and not reply["partial"]
        if not apart:
            print(f"  {reply['pages']} pages of at most {page:,} alarms", flush=True)
    finally:
        await client.aclose()
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)
        await fed.aclose()
        await peers.aclose()
        ctx.term()
        for bus in buses.values():
            await bus.aclose()
    return out, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alarms", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--page", type=int, default=5000)
    ap.add_argument("--churn", type=float, default=0.02, help="share of NEs polled per walk")
    ap.add_argument("--profile", help="write cProfile stats of the walks to this file")
    ap.add_argument("--client-process", action="store_true", help="pipelined or not, A/B")
    args = ap.parse_args()
    print(f"load average at start: {load_average()}")
    prof = cProfile.Profile() if args.profile else None
    ms, cpu = asyncio.run(
        run(args.alarms, args.repeat, args.page, args.churn, prof, args.client_process)
    )
    if args.client_process:
        print(f"load average at end: {load_average()}")
        return 0
    if prof is not None:
        prof.dump_stats(args.profile)
    print(
        f"  full list, {args.alarms:,} alarms, one process, {args.churn:.0%} of NEs polled "
        f"between walks: p50 {percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  "
        f"(n={len(ms)}; the target p99 <= {TARGET_FULL_P99:g} ms is for 3 agent processes)\n"
        f"  CPU per walk (this process: members, federating agent and client): "
        f"p50 {percentile(cpu, 50):7.1f} ms  p99 {percentile(cpu, 99):7.1f} ms"
    )
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The code path of a paged ``pool.alarms`` without a pool around it: 3 members' alarm parts
(agent/federation.py ``AlarmParts``, real ``Alarm`` objects), the federating agent
(``Federation``) and a client (``afetch_alarms``), each on a real bus over loopback ZeroMQ,
all in this one process and one core. What it costs to walk every page of ``--alarms``
standing alarms when nothing else competes: the floor under bench/pool_services.py's
figure, and the harness to profile (``python -m pyinstrument bench/alarm_pages.py``).
``--ne-states N`` walks ``pool.ne_states`` the same way instead (``NeStateParts``: N NE
states with 4 LLDP neighbours each, ``afetch_ne_states``; the same paging code).

    .venv/bin/python bench/alarm_pages.py [--alarms 50000] [--repeat 30] [--page 5000]
    .venv/bin/python bench/alarm_pages.py --ne-states 5000 [--page 500]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import zmq.asyncio  # noqa: E402

from agent.alarmpages import afetch_alarms, afetch_pages  # noqa: E402
from agent.bus import Bus  # noqa: E402
from agent.busclient import AsyncBusClient, Endpoint  # noqa: E402
from agent.federation import AlarmParts, Federation, Local, NeStateParts, Parts  # noqa: E402
from agent.peers import Peers  # noqa: E402
from bench.poolbench import load_average, percentile  # noqa: E402
from shared.alarmpage import ALARMS  # noqa: E402
from shared.alarms import Alarm  # noqa: E402
from shared.fedpage import NE_STATES, Kind  # noqa: E402
from shared.model import AlarmKey, Neighbour, NeState, Severity  # noqa: E402
from shared.wire import Reply  # noqa: E402

NODES = ("a1", "a2", "a3")
TARGET_FULL_P99 = 250.0  # ms, the target (for 3 agent processes, not one)


def alarms_of(member: int, total: int) -> list[Alarm]:
    """Link-down alarms as the scale lab's polls raise them: 36 ports of each NE."""
    now = time.time()
    out = []
    for i in range(member, total, len(NODES)):
        key = AlarmKey(f"rtr{i // 36:04d}", f"ifIndex={i % 36 + 1}", "link-down")
        text = f"Interface GigabitEthernet0/{i % 36 + 1} is down (admin up)"
        seen = now - random.random() * 60
        out.append(Alarm(key, Severity.MAJOR, text, now - 600, seen, now - 600))
    return out


def held(alarms: list[Alarm]) -> Callable[[frozenset[str]], list[Alarm]]:
    return lambda nes: alarms


def states_of(member: int, total: int) -> list[dict[str, object]]:
    """NE states as summaries, each with 4 LLDP neighbours (a leaf's uplinks)."""
    now = time.time()
    out = []
    for i in range(member, total, len(NODES)):
        site, n = f"site{i // 50:03d}", i % 50
        lldp = [Neighbour(f"Gi1/0/{j}", f"{site}-sw{(n + j) % 50:03d}", f"Gi1/0/{j + 1}")
                for j in range(4)]  # fmt: skip
        st = NeState(f"{site}-sw{n:03d}", True, now, None, f"sw{i}.example.net", "", 123456,
                     neighbours=lldp, engine_id="80001f8880aabbccddeeff0011")  # fmt: skip
        out.append(st.summary())
    return out


def one_reply_bytes(total: int) -> int:
    """What the whole list weighs as one reply (what pool.ne_states sent before pages)."""
    items = [s | {"agent": NODES[m]} for m in range(len(NODES)) for s in states_of(m, total)]
    return len(Reply("r", True, {"items": items}).encode())


async def run(total: int, repeat: int, page: int, ne_states: bool = False) -> list[float]:
    kind: Kind = NE_STATES if ne_states else ALARMS
    buses: dict[str, Bus] = {}
    parts: dict[str, Parts] = {}
    for i, node in enumerate(NODES):
        if ne_states:
            parts[node] = NeStateParts(node, (lambda s: lambda: s)(states_of(i, total)))
        else:
            parts[node] = AlarmParts(node, held(alarms_of(i, total)))
        bus = buses[node] = Bus("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
        bus.route(kind.part_op, parts[node].page)
        bus.bind()
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, NODES[0])
    await peers.update({n: buses[n].router_endpoint for n in NODES[1:]})
    local: dict[str, Local] = {kind.part_op: parts[NODES[0]].page}
    fed = Federation(NODES[0], peers, lambda: list(NODES), lambda ne: None, local)
    buses[NODES[0]].route(kind.op, fed.ne_states if ne_states else fed.alarms)
    serving = [asyncio.create_task(b.serve()) for b in buses.values()]
    client = AsyncBusClient([Endpoint(buses[NODES[0]].router_endpoint)], timeout=30.0)
    out: list[float] = []
    try:
        for _ in range(repeat):
            t = time.perf_counter()
            if ne_states:
                reply = await afetch_pages(client, kind, {"deadline": 10.0}, 30.0, page)
            else:
                reply = await afetch_alarms(client, {"deadline": 10.0}, timeout=30.0, limit=page)
            out.append((time.perf_counter() - t) * 1000)
            assert len(reply["items"]) == total and not reply["partial"]
        print(f"  {reply['pages']} pages of at most {page:,} {kind.noun}", flush=True)
    finally:
        await client.aclose()
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)
        await peers.aclose()
        ctx.term()
        for bus in buses.values():
            await bus.aclose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alarms", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--page", type=int, help="rows a page (default: the list's default)")
    ap.add_argument("--ne-states", type=int, default=0, help="walk pool.ne_states of N NEs")
    args = ap.parse_args()
    print(f"load average at start: {load_average()}")
    if args.ne_states:
        page = args.page or NE_STATES.default_page
        print(f"  the whole list as one reply: {one_reply_bytes(args.ne_states) / 1e6:.2f} MB")
        ms = asyncio.run(run(args.ne_states, args.repeat, page, ne_states=True))
        print(
            f"  every NE state, {args.ne_states:,} NEs, one process: p50 "
            f"{percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  (n={len(ms)})"
        )
        print(f"load average at end: {load_average()}")
        return 0
    ms = asyncio.run(run(args.alarms, args.repeat, args.page or ALARMS.default_page))
    print(
        f"  full list, {args.alarms:,} alarms, one process: p50 {percentile(ms, 50):7.1f} ms  "
        f"p99 {percentile(ms, 99):7.1f} ms  (n={len(ms)}; the target p99 <= "
        f"{TARGET_FULL_P99:g} ms is for 3 agent processes)"
    )
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

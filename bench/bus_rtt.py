"""Bus request cost with CURVE + ZAP against a plain bus, in the same run.

A server process runs the agent's ``Bus`` (ROUTER, a ``ping`` route) once plain and once
secured (CURVE key pair, ZAP with an allow-list holding the client's key); the client
process measures, on loopback:

- round trip: ``--count`` sequential requests on one persistent connection with the sync
  ``BusClient`` (p50 / p99 / mean, in ms);
- throughput: ``--concurrency`` requests in flight on one connection with the async
  ``AsyncBusClient`` for ``--seconds`` (requests/s).

NOTES.md measured ~0.2 ms (plain) and ~0.27 ms (CURVE) for a bare ROUTER/DEALER round trip;
these figures include the bus's envelope, checks and role lookup.

    .venv/bin/python bench/bus_rtt.py [--count 5000] [--seconds 5] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.busclient import AsyncBusClient, BusClient, Endpoint  # noqa: E402
from agent.keys import KeyPair  # noqa: E402
from bench.busserver import Routes, ServedBus  # noqa: E402


def _routes() -> Routes:
    async def ping(args: dict[str, Any]) -> dict[str, Any]:
        return {"pong": True}

    return {"ping": ping}


def round_trips(ep: Endpoint, key: KeyPair, count: int) -> list[float]:
    with BusClient([ep], key, timeout=5.0) as client:
        for _ in range(200):  # connect, handshake, warm up
            client.request("ping")
        out = []
        for _ in range(count):
            t0 = time.perf_counter()
            client.request("ping")
            out.append(time.perf_counter() - t0)
    return out


async def throughput(ep: Endpoint, key: KeyPair, seconds: float, concurrency: int) -> float:
    async with AsyncBusClient([ep], key, timeout=10.0) as client:
        await client.request("ping")
        done = 0
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                await client.request("ping")
                done += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - t0)


def measure(secure: bool, opts: argparse.Namespace) -> dict[str, float]:
    with ServedBus(_routes, secure) as (ep, key):
        rtt = sorted(round_trips(ep, key, opts.count))
        rate = asyncio.run(throughput(ep, key, opts.seconds, opts.concurrency))
    return {
        "p50": rtt[len(rtt) // 2] * 1000,
        "p99": rtt[int(len(rtt) * 0.99)] * 1000,
        "mean": statistics.fmean(rtt) * 1000,
        "rate": rate,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5000, help="sequential round trips")
    ap.add_argument("--seconds", type=float, default=5.0, help="throughput run length")
    ap.add_argument(
        "--concurrency", type=int, default=32, help="requests in flight (<= 64, the bus bound)"
    )
    opts = ap.parse_args()
    print(
        f"bus request cost on loopback: {opts.count} sequential pings (sync client), then "
        f"{opts.concurrency} in flight for {opts.seconds:g} s (async client)",
        flush=True,
    )
    results = {name: measure(name == "curve", opts) for name in ("plain", "curve")}
    print(f"{'bus':<6} {'rtt p50':>9} {'rtt p99':>9} {'rtt mean':>9} {'req/s':>9}")
    for name, r in results.items():
        print(
            f"{name:<6} {r['p50']:>7.3f}ms {r['p99']:>7.3f}ms {r['mean']:>7.3f}ms {r['rate']:>9.0f}"
        )
    p, c = results["plain"], results["curve"]
    print(
        f"CURVE vs plain: {c['p50'] - p['p50']:+.3f} ms per round trip (p50), "
        f"pipelined throughput x{c['rate'] / p['rate']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

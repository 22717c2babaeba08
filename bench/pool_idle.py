"""Election traffic and CPU of an idle pool of 3 agents (no NEs): it should be negligible.

Real agent processes (``lab.harness.AgentPool``, default ``[pool]`` timing: heartbeats every
0.5 s, master lease renewed every 0.3 s) on one SQLite database with an empty inventory.
Once one master leads, over ``--window`` s:

- election messages: the agents' election shells' ``received`` counters (their ``status``);
- bytes: TCP bytes sent by the agent processes over their open sockets (``ss -tinpH``: bus,
  peer links; SQLite is a file), the bench's own two status requests left out;
- CPU: user + system of each agent process (/proc), as a share of one core.

The same window for one agent alone (its own database) is the reference printed beside it.

    .venv/bin/python bench/pool_idle.py [--window 60]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.poolbench import cpu_of, load_average, tcp_bytes  # noqa: E402
from lab.harness import AgentPool, sqlite_pool  # noqa: E402

EMPTY = {"version": 1, "profiles": [], "devices": [], "links": []}


def measure(pool: AgentPool, nodes: list[str], window: float) -> dict[str, float]:
    pids = {n: pool[n].pid or 0 for n in nodes}
    received0 = sum(_received(pool, n) for n in nodes)
    bytes0 = tcp_bytes(list(pids.values()))
    cpu0 = {n: cpu_of(p) for n, p in pids.items()}
    time.sleep(window)
    cpu1 = {n: cpu_of(p) for n, p in pids.items()}
    bytes1 = tcp_bytes(list(pids.values()))
    received1 = sum(_received(pool, n) for n in nodes)
    sent = sum(bytes1[p][0] - bytes0[p][0] for p in pids.values())
    return {
        "messages": (received1 - received0) / window,
        "bytes": sent / window,
        "cpu": sum(cpu1[n] - cpu0[n] for n in nodes) / window,
        "cpu_max": max(cpu1[n] - cpu0[n] for n in nodes) / window,
    }


def _received(pool: AgentPool, node: str) -> int:
    shell = pool.status(node, timeout=5.0).get("pool", {}).get("shell", {})
    return int(shell.get("received", 0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=5.0)
    args = ap.parse_args()
    print(f"load average at start: {load_average()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    try:
        with AgentPool(tmp / "solo", sqlite_pool(tmp / "solo.db", EMPTY)) as pool:
            pool.add("solo")
            pool.start("solo")
            pool.wait_for_master(60)
            time.sleep(args.settle)
            solo = measure(pool, ["solo"], args.window)
        with AgentPool(tmp / "pool", sqlite_pool(tmp / "pool.db", EMPTY)) as pool:
            nodes = ["idle-a", "idle-b", "idle-c"]
            for node, priority in zip(nodes, (300, 200, 100), strict=True):
                pool.add(node, priority=priority)
            pool.start_all()
            master, epoch = pool.wait_for_master(60)
            time.sleep(args.settle)
            three = measure(pool, nodes, args.window)
            after = pool.wait_for_master(30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"idle pool of 3 (master {master}, epoch {epoch}; after the window {after[0]}, "
        f"epoch {after[1]}), {args.window:g} s:\n"
        f"  election messages received: {three['messages']:.1f}/s (all 3 agents)\n"
        f"  TCP bytes sent: {three['bytes']:,.0f} B/s (all 3 agents)\n"
        f"  CPU: {100 * three['cpu']:.2f} % of one core for all 3 "
        f"(busiest agent {100 * three['cpu_max']:.2f} %)\n"
        f"one agent alone, same window: {solo['messages']:.1f} election messages/s, "
        f"{solo['bytes']:,.0f} B/s, CPU {100 * solo['cpu']:.2f} % of one core"
    )
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rebalance: the share of NEs that move when a 4th agent joins a pool of 3 (expect ~1/4,
all of them to the newcomer) and when one agent leaves (exactly its own NEs).

Part 1, the pure assigner (``shared.assign.assign``) on ``--nes`` NEs named as a scale lab
names them: 3 -> 4 agents, then each of the 4 leaving in turn; once with no capacity limit
and once with every agent capped at ``--capacity-share`` of the NEs (a cap can push an NE
past a full agent, so more than the leaver's own may move: the figure says how many).

Part 2 (``--real``), real agent processes (``lab.harness.AgentPool``) on one SQLite database
with a scale lab (``lab.scale``) of ``--real-nes`` NEs polled every ``--interval`` s: 3
agents, wait for one master and a table covering every NE; start a 4th, wait until the
table gives it NEs and stays unchanged for ``--settle`` s; then stop a follower (SIGTERM)
and wait again. Moved = NEs whose owner in the database table changed.

    .venv/bin/python bench/pool_rebalance.py [--nes 3000,10000] [--real] [--real-nes 3000]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab.topology import build  # noqa: E402
from shared.assign import Member, Placement, assign  # noqa: E402

AGENTS = ("agent-a", "agent-b", "agent-c")
JOINER = "agent-d"


def names(count: int) -> list[str]:
    return [d.name for d in build("ring", count).devices]


def pure(count: int, capacity_share: float | None) -> None:
    nes = [Placement(n) for n in names(count)]
    cap = math.ceil(capacity_share * count) if capacity_share else None
    members = [Member(a, capacity=cap) for a in AGENTS]
    t0 = time.perf_counter()
    three = assign(nes, members)
    took = time.perf_counter() - t0
    four = assign(nes, [*members, Member(JOINER, capacity=cap)])
    moved = four.moved(three.owners)
    to_new = {ne for ne in moved if four.owners[ne] == JOINER}
    label = f"capacity {cap} each" if cap else "no capacity limit"
    print(
        f"  {count} NEs, {label} (one assign() of 3 agents: {took * 1000:.0f} ms)\n"
        f"    join 3 -> 4: {len(moved)} moved = {100 * len(moved) / count:.1f} % "
        f"(1/4 = 25 %), {len(to_new)} of them to {JOINER}, "
        f"load {sorted(four.load().values())}, unplaced {len(four.unplaced)}"
    )
    for leaver in (*AGENTS, JOINER):
        rest = [Member(m, capacity=cap) for m in (*AGENTS, JOINER) if m != leaver]
        after = assign(nes, rest)
        own = {ne for ne, o in four.owners.items() if o == leaver}
        moved = after.moved(four.owners)
        print(
            f"    {leaver} leaves 4 -> 3: {len(moved)} moved = "
            f"{100 * len(moved) / count:.1f} %, its own {len(own)}; "
            f"moved == its own: {moved == own}"
            + ("" if moved >= own else f" (MISSING {len(own - moved)})")
            + f", unplaced {len(after.unplaced)}"
        )


# -- part 2: real agents -------------------------------------------------------------------


def real(count: int, interval: float, settle: float) -> None:
    from bench.poolbench import scale_lab, settled
    from lab.harness import AgentPool, sqlite_pool

    tmp = Path(tempfile.mkdtemp(prefix="bench-rebalance-"))
    lab = scale_lab(tmp / "lab", count)
    try:
        db_url = sqlite_pool(tmp / "emspool.db", lab.inventory())
        with AgentPool(tmp / "pool", db_url, interval=interval) as pool:
            for i, node in enumerate(AGENTS):
                pool.add(node, priority=300 - 100 * i)
            pool.add(JOINER, priority=50)
            for node in AGENTS:
                pool.start(node)
            master, epoch = pool.wait_for_master(60)
            every = set(lab.names)

            def running() -> set[str]:
                return set(pool.running)

            three = dict(settled(pool, every, running, settle, 180).owners)
            print(f"  {count} NEs, 3 agents, master {master} epoch {epoch}")
            t0 = time.monotonic()
            pool.start(JOINER)
            four = dict(settled(pool, every, running, settle, 180).owners)
            took = time.monotonic() - t0 - settle
            moved = {ne for ne in every if three[ne] != four[ne]}
            to_new = {ne for ne in moved if four[ne] == JOINER}
            print(
                f"    join 3 -> 4: {len(moved)} moved = {100 * len(moved) / count:.1f} %, "
                f"{len(to_new)} of them to {JOINER}; table settled ~{took:.1f} s after the start"
            )
            leaver = next(a for a in AGENTS if a != master)
            own = {ne for ne, o in four.items() if o == leaver}
            pool.stop(leaver)
            after = dict(settled(pool, every, running, settle, 180).owners)
            moved = {ne for ne in every if four[ne] != after[ne]}
            print(
                f"    {leaver} (follower) stops 4 -> 3: {len(moved)} moved = "
                f"{100 * len(moved) / count:.1f} %, its own {len(own)}; "
                f"moved == its own: {moved == own}"
            )
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nes", default="3000,10000")
    ap.add_argument("--capacity-share", type=float, default=0.34)
    ap.add_argument("--real", action="store_true", help="also with real agent processes")
    ap.add_argument("--real-nes", type=int, default=3000)
    ap.add_argument("--interval", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=5.0)
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("pure assigner (shared.assign):")
    for count in (int(c) for c in args.nes.split(",")):
        pure(count, None)
        pure(count, args.capacity_share)
    if args.real:
        print("real agents (lab.harness.AgentPool, scale lab, SQLite):")
        real(args.real_nes, args.interval, args.settle)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

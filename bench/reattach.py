"""Reattach: kill -9 of the agent a live client listens to -> the client's alarm view
current again through another agent.

Real agent processes (``lab.harness.AgentPool``, 3 agents) on one SQLite database manage
the real lab (``lab.fleet``, ``--nes`` simulated devices, ``--down`` of them unreachable so
the pool holds standing alarms). The client is ``agent.livealarms.LiveAlarms`` (the one
``emspool watch`` uses) over a pool-wide ``BusClient``, with its periodic safety-net resync
off. Each run:

1. all 3 agents running and the assignment settled; the client's view equals the agents'
   set (``pool.alarms`` answered by all 3); the client is made again until it picked an
   agent that holds standing alarms (unless ``--any-victim``);
2. kill -9 the agent the client is attached to (t0) and step the client every 50 ms;
3. "current again": the client is attached to a survivor, has resynchronised since t0, and
   its view equals a ``pool.alarms`` answered by both survivors, asked independently after
   the client's resync; the figure is the end of that resync minus t0 (the independent
   check is not counted; it runs only once the client has resynchronised);
4. "whole again": the same, once the victim's alarms are back in the view (a survivor took
   its NEs over and rebuilt their alarms from the event log; the view resyncs on the
   ``managed`` event);
5. start the killed agent again.

    .venv/bin/python bench/reattach.py [--runs 7] [--nes 9] [--down 3] [--any-victim]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent import busclient  # noqa: E402
from agent.livealarms import LiveAlarms  # noqa: E402
from bench.poolbench import load_average, percentile, settled  # noqa: E402
from lab.fleet import Lab  # noqa: E402
from lab.harness import AgentPool, client_for, free_port, sqlite_pool  # noqa: E402
from shared.alarmview import essence  # noqa: E402
from shared.errors import EmspoolError  # noqa: E402

AGENTS = {"ra-a": 300, "ra-b": 200, "ra-c": 100}


def truth(pool: AgentPool, among: set[str]) -> dict[Any, Any] | None:
    for node in sorted(among):
        try:
            reply = pool.request(node, "pool.alarms", timeout=3.0)
        except EmspoolError:
            continue
        return essence(reply["items"]) if set(reply["answered"]) == among else None
    return None


def in_step(live: LiveAlarms, pool: AgentPool, among: set[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            live.step(0.05)
        except busclient.Unreachable:
            continue
        if live.view.summary() == truth(pool, among):
            return len(live.view.alarms)
    raise SystemExit(f"the client's view did not match the agents within {timeout:g} s")


def one_run(pool: AgentPool, every: set[str], args: argparse.Namespace) -> dict[str, Any]:
    settled(pool, every, lambda: set(pool.running), args.settle, 240)
    for _ in range(30):  # a client (random agent) attached to an agent holding alarms
        client = client_for(pool.db_url, pool._keys["operator"], timeout=1.0)
        live = LiveAlarms(client, resync_every=3600.0, ping_every=args.ping, timeout=1.0)
        alarms = in_step(live, pool, set(pool.agents), 60)
        holders = {a.get("agent") for a in live.view.alarms.values()}
        if live.attached_node in holders or not args.victim_holds_alarms:
            break
        live.close()
        client.close()
    try:
        before = set(live.view.summary())
        victim = live.attached_node
        resyncs = live.view.resyncs
        t0 = time.monotonic()
        pool.kill(victim)
        survivors = set(pool.agents) - {victim}
        deadline = t0 + args.timeout
        current = float("inf")
        while time.monotonic() < deadline:
            try:
                live.step(0.05)
            except busclient.Unreachable:
                continue
            if live.attached_node == victim or live.view.resyncs == resyncs:
                continue
            resynced_at = live._resynced_at
            if live.view.resync_needed:
                continue  # another resync is due: the view is not current yet
            if live.view.summary() == truth(pool, survivors):
                current = resynced_at - t0
                break
        # The victim's NEs' alarms come back once a survivor has taken its NEs over (and
        # rebuilt their alarms from the event log); the view follows on the "managed" event.
        whole = float("inf")
        while time.monotonic() < deadline:
            try:
                live.step(0.05)
            except busclient.Unreachable:
                continue
            if live.view.resync_needed or set(live.view.summary()) != before:
                continue
            if live.view.summary() == truth(pool, survivors):
                whole = live._resynced_at - t0
                break
        return {
            "victim": victim,
            "to": live.attached_node,
            "alarms": alarms,
            "current": current,
            "whole": whole,
            "resyncs": live.view.resyncs - resyncs,
            "reason": live.last_reason,
        }
    finally:
        live.close()
        client.close()
        pool.start(victim)


@contextlib.contextmanager
def alarmed_pool(args: argparse.Namespace) -> Iterator[tuple[AgentPool, set[str]]]:
    """The real lab (``args.nes`` devices, ``args.down`` unreachable) and the 3 agents on
    SQLite, once every unreachable NE's alarm stands; (pool, NE names)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-reattach-"))
    lab = Lab.create(
        tmp / "lab",
        count=args.nes,
        topology_kind="ring",
        base_address=f"127.{random.randint(100, 250)}.{random.randint(0, 200)}.0",
        port=free_port(2),
    )
    lab.start()
    try:
        inventory = json.loads(lab.inventory_path.read_text())
        every = {d.name for d in lab.devices}
        for d in sorted(every)[: args.down]:
            lab.unreachable(d)
        db_url = sqlite_pool(tmp / "emspool.db", inventory)
        with AgentPool(tmp / "pool", db_url, interval=args.interval) as pool:
            for node, priority in AGENTS.items():
                pool.add(node, priority=priority)
            pool.start_all()
            pool.wait_for_master(60)
            down = set(sorted(every)[: args.down])

            def all_raised() -> bool:
                t = truth(pool, set(pool.agents)) or {}
                return {k.ne for k in t if k.type == "ne-unreachable"} >= down

            deadline = time.monotonic() + 180
            while not all_raised() and time.monotonic() < deadline:
                time.sleep(0.5)
            yield pool, every
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--nes", type=int, default=9)
    ap.add_argument("--down", type=int, default=3, help="NEs made unreachable (alarms)")
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=60.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    ap.add_argument("--ping", type=float, default=0.5, help="client's liveness ping period")
    ap.add_argument(
        "--any-victim",
        dest="victim_holds_alarms",
        action="store_false",
        help="kill whichever agent the client picked (default: one that holds alarms, "
        "so its NEs' alarms have to come back through a take-over)",
    )
    args = ap.parse_args()
    print(f"load average at start: {load_average()}")
    with alarmed_pool(args) as (pool, every):
        results: list[float] = []
        wholes: list[float] = []
        for k in range(args.runs):
            r = one_run(pool, every, args)
            results.append(r["current"])
            wholes.append(r["whole"])
            print(
                f"run {k + 1}: killed {r['victim']} -> view current through {r['to']} "
                f"in {r['current']:.2f} s; the victim's alarms back (taken over) at "
                f"{r['whole']:.2f} s ({r['alarms']} standing alarms before; "
                f"{r['resyncs']} resync(s), last: {r['reason']})",
                flush=True,
            )
        print(
            f"reattach over {len(results)} runs ({args.nes} NEs, ping every {args.ping:g} s): "
            f"p50 {percentile(results, 50):.2f} s, p99 {percentile(results, 99):.2f} s, "
            f"max {max(results):.2f} s (target <= 3 s); with the victim's NEs taken over: "
            f"p50 {percentile(wholes, 50):.2f} s, p99 {percentile(wholes, 99):.2f} s"
        )
        print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

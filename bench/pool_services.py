"""The pool's services under load: 3 real agents, standing alarms from real polls.

A scale lab (``lab.scale``, one SNMP responder for ``--nes`` NEs) and 3 agent processes
(``lab.harness.AgentPool``) on one SQLite database. Once the assignment has settled and every
NE has been polled with its ports up, the bench takes ``--down`` ports of every NE down in the
responder (its control socket, as ``emspool lab scale`` does); the agents' next polls raise a
link-down alarm for each, so the standing alarms come from polls, not from a backdoor. Then,
against one agent (``--target``, default the first non-master):

- latency of the federated alarm query ``pool.alarms`` (it gathers every agent's alarms over
  the peer links, in pages of ``--page`` alarms on both hops), p50/p99 of ``--repeat``
  walks: the full list (every page, put back together by agent/alarmpages.py, as the CLI
  and LiveAlarms do), and a filtered one (one NE), beside the issue's 250-ms target;
- a reference in the same run: the same pages replayed by one process over the same secured
  bus and walked by the same client (bench/page_replay.py), the floor under the first figure;
- requests per second the agent serves with ``--clients`` concurrent clients (one bus client
  each, own key) for ``--window`` s: a peered request (``db.inventory`` for a page of 50 NEs,
  read from the database) and a federated one (``pool.alarms`` for one NE, from 3 agents).

    .venv/bin/python bench/pool_services.py [--nes 1400] [--down 48] [--interval 30]

48 ports down on 1,400 NEs (the default) is about 50,000 standing alarms.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from agent.alarmpages import fetch_alarms  # noqa: E402
from agent.busclient import BusClient, RequestFailed, Unreachable  # noqa: E402
from agent.db import Database, migrate  # noqa: E402
from bench.page_replay import capture, replay, walk_replay  # noqa: E402
from bench.poolbench import cpu_of, load_average, percentile, scale_lab, settled  # noqa: E402
from lab.harness import AgentPool, client_for, sqlite_pool  # noqa: E402
from lab.topology import PORTS, ROUTER, SWITCH  # noqa: E402
from tests.helpers.pgdb import temp_pg_database  # noqa: E402

AGENTS = {"svc-a": 300, "svc-b": 200, "svc-c": 100}
TARGET_FULL_P99 = 250.0  # ms, the target for the full list


def ports_of(name: str) -> int:
    return PORTS[ROUTER] if name.startswith("rtr") else PORTS[SWITCH]


def alarm_count(client: BusClient, page: int) -> tuple[int, list[str]]:
    """Standing alarms in the federated full list (every page); -1 when the agent did not
    answer (busy raising tens of thousands of alarms at once, it may not for a while)."""
    try:
        reply = fetch_alarms(client, {"deadline": 10.0}, timeout=30.0, limit=page)
    except (Unreachable, RequestFailed) as exc:
        print(f"  no answer: {exc}", flush=True)
        return -1, []
    size = len(msgspec.json.encode(reply["items"]))
    print(f"  full list: {size / 1e6:.1f} MB as JSON in {reply['pages']} pages", flush=True)
    return len(reply["items"]), list(reply.get("missing") or [])


def wait_alarms(client: BusClient, page: int, want: int, timeout: float) -> int:
    """Standing alarms once they reach ``want`` or stop growing for a while (bounded)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    n = 0
    while time.monotonic() < deadline:
        n, missing = alarm_count(client, page)
        print(f"  standing alarms: {n:,} (missing agents: {missing or 'none'})", flush=True)
        if n >= want:
            return n
        if n < 0:
            continue
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 120:
            return n
        time.sleep(15)  # each count is itself a full federated query: not too often
    return n


def latency(client: BusClient, args: dict[str, Any], repeat: int, page: int) -> list[float]:
    """Milliseconds of each walk through every page."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        try:
            reply = fetch_alarms(client, args | {"deadline": 10.0}, timeout=30.0, limit=page)
        except (Unreachable, RequestFailed) as exc:  # counted as the whole wait: a miss
            print(f"  no answer: {exc}", flush=True)
            reply = {}
        out.append((time.perf_counter() - t) * 1000)
        if reply.get("missing"):
            print(f"  partial reply: {reply['missing']}", flush=True)
    return out


def agents_cpu_rate(pids: list[int], seconds: float) -> float:
    """CPU seconds per second of the agents together while nobody asks them."""
    c0, t0 = sum(cpu_of(p) for p in pids), time.monotonic()
    time.sleep(seconds)
    return (sum(cpu_of(p) for p in pids) - c0) / (time.monotonic() - t0)


def latency_cpu(
    client: BusClient, args: dict[str, Any], repeat: int, page: int, pids: list[int], idle: float
) -> tuple[list[float], tuple[float, float]]:
    """``latency``, and the CPU ms per walk of the agents (less their idle rate, the
    polls') and of this client process."""
    c0, p0, t0 = sum(cpu_of(p) for p in pids), time.process_time(), time.monotonic()
    ms = latency(client, args, repeat, page)
    agents = sum(cpu_of(p) for p in pids) - c0 - idle * (time.monotonic() - t0)
    mine = time.process_time() - p0
    return ms, (max(agents, 0.0) * 1000 / repeat, mine * 1000 / repeat)


def throughput(
    pool: AgentPool, node: str, op: str, args: dict[str, Any], clients: int, window: float
) -> tuple[float, int]:
    """Replies per second over ``window`` s from ``clients`` threads; and errors."""
    done = [0] * clients
    errors = [0] * clients
    stop = time.monotonic() + window

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            try:
                pool.request(node, op, args, timeout=10.0, user=f"client{i}")
                done[i] += 1
            except Exception:  # a timeout or an error reply: counted, not served
                errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(window + 30)
    return sum(done) / (time.monotonic() - t0), sum(errors)


def reference(client: BusClient, repeat: int, page: int) -> None:
    """The same pages replayed by one process over the same secured bus: the bus and the
    client alone, this machine's floor under the federated walk (bench/page_replay.py)."""
    pages = capture(client, page)
    with replay(pages) as (endpoint, key):
        ms, cpu, items = walk_replay(endpoint, key, repeat, page)
    size = sum(map(len, pages)) / 1e6
    print(
        f"  reference: the same {len(pages)} pages ({size:.1f} MB, {items:,} alarms) replayed "
        f"by one process, same bus and client\n"
        f"    {'':36s} p50 {percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  "
        f"(n={len(ms)}); client CPU per walk {cpu:6.1f} ms",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nes", type=int, default=1400)
    ap.add_argument("--down", type=int, default=48, help="ports taken down per NE (at most)")
    ap.add_argument("--interval", type=float, default=30.0, help="poll interval, s")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--page", type=int, default=5000, help="alarms per page (both hops)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--window", type=float, default=15.0)
    ap.add_argument(
        "--db", choices=("sqlite", "postgresql"), default="sqlite", help="the pool database"
    )
    ap.add_argument("--target", help="the agent asked (default: the first non-master)")
    args = ap.parse_args()
    print(f"load average at start: {load_average()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-services-"))
    lab = scale_lab(tmp / "lab", args.nes)
    every = set(lab.names)
    try:
        with ExitStack() as stack:
            db_url = pool_database(stack, args.db, tmp, lab.inventory())
            run(args, lab, every, db_url, tmp)
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def pool_database(stack: ExitStack, backend: str, tmp: Path, inventory: dict[str, Any]) -> str:
    if backend == "sqlite":
        return sqlite_pool(tmp / "emspool.db", inventory)
    url = stack.enter_context(temp_pg_database())
    migrate(url)
    with Database.open(url) as db:
        db.import_inventory(inventory)
    return url


def run(args: argparse.Namespace, lab: Any, every: set[str], db_url: str, tmp: Path) -> None:
    with AgentPool(tmp / "pool", db_url, interval=args.interval) as pool:
        for i in range(args.clients):
            pool.user(f"client{i}")
        for node, priority in AGENTS.items():
            pool.add(node, priority=priority)
        pool.start_all()
        master, _ = pool.wait_for_master(120)
        settled(pool, every, lambda: set(pool.running), 5.0, 600)
        target = args.target or next(n for n in AGENTS if n != master)
        # Every NE polled at least once with its ports up (a port must have been seen
        # up to raise link-down), then the ports go down.
        time.sleep(args.interval * 1.5 + 5)
        control = lab.control
        want = 0
        t = time.monotonic()
        for name in sorted(every):
            for ifindex in range(1, min(args.down, ports_of(name)) + 1):
                control.if_down(name, ifindex)
                want += 1
        print(
            f"{want:,} ports down on {len(every)} NEs in {time.monotonic() - t:.0f} s",
            flush=True,
        )
        client = client_for(pool.db_url, pool._keys["operator"], target, timeout=30.0)
        wait_alarms(client, args.page, want, args.interval * 4 + 300)
        time.sleep(2)
        have, missing = alarm_count(client, args.page)
        print(
            f"\n{have:,} standing alarms across 3 agents (asked {target}; master {master}; "
            f"agents missing from the reply: {missing or 'none'})"
        )
        print(f"load average before measuring: {load_average()}")
        one_ne = sorted(every)[len(every) // 2]
        filt = {"ne": [one_ne]}
        pids = [p for p in (pool[n].pid for n in AGENTS) if p]
        idle = agents_cpu_rate(pids, 5.0)  # the polls' own CPU, taken out of each walk's
        print(f"agents' CPU while not asked (polling): {idle * 100:.0f} % of a core")
        full, full_cpu = latency_cpu(client, {}, args.repeat, args.page, pids, idle)
        filtered, filt_cpu = latency_cpu(client, filt, args.repeat, args.page, pids, idle)
        for label, ms, cpu, target_ms in (
            (f"full list, {have:,} alarms", full, full_cpu, TARGET_FULL_P99),
            (f"filtered (ne {one_ne})", filtered, filt_cpu, None),
        ):
            aim = f"  (target p99 <= {target_ms:g} ms)" if target_ms else ""
            print(
                f"  pool.alarms {label:28s} p50 {percentile(ms, 50):7.1f} ms  "
                f"p99 {percentile(ms, 99):7.1f} ms  (n={len(ms)}){aim}\n"
                f"    CPU per walk: agents {cpu[0]:6.1f} ms, client {cpu[1]:6.1f} ms",
                flush=True,
            )
        reference(client, args.repeat, args.page)
        page = {"ne": sorted(every)[:50]}
        for label, op, a in (
            ("peered db.inventory, 50 NEs", "db.inventory", page),
            (f"federated pool.alarms ne={one_ne}", "pool.alarms", filt),
        ):
            rps, errs = throughput(pool, target, op, a, args.clients, args.window)
            print(
                f"  {label:36s} {rps:7.1f} req/s ({args.clients} clients, "
                f"{args.window:g} s, {errs} errors)",
                flush=True,
            )
        client.close()
        print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    raise SystemExit(main())

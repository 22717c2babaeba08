"""Failover: kill -9 of the master -> a new master, and -> the last of its NEs polled again.

Real agent processes (``lab.harness.AgentPool``, 3 agents, priorities 300/200/100, the
default ``[pool]`` timing) on one SQLite database manage a scale lab (``lab.scale``), every
NE polled every ``--interval`` s (60 by default, so an orphan polled again within seconds
was polled because it was taken over, not because its slot came). Each run:

1. wait until one master leads the 3 running agents and the database's table maps every NE
   onto the 3 of them, unchanged for ``--settle`` s; the master's NEs are the orphans;
2. kill -9 the master (t0), then mark the responder (each device records the first request
   it answers after the mark, and from which source ports);
3. new master: the bench sees every live agent agree on one master other than the dead one
   at a higher epoch (their status asked every 20 ms: the figure includes that resolution);
4. orphans polled again: the responder's receive time of each orphan's first request minus
   t0; "last" is the latest orphan of the run;
5. NEs answered to two or more source ports since the mark (two agents polling one NE);
6. start the killed agent again (it takes its NEs back after its hold-down, preempt_delay).

``--cpu`` first measures, against the same responder, one agent alone and then the 3 agents:
CPU (user + system from /proc) of the agent processes over ``--window`` s of steady polling
(after a full interval of warm-up), divided by the NE polls they made in it (their status).

    .venv/bin/python bench/pool_failover.py [--nes 60] [--runs 10]
    .venv/bin/python bench/pool_failover.py --nes 3000 --runs 10 --cpu
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.poolbench import (  # noqa: E402
    cpu_of,
    load_average,
    percentile,
    poll_counts,
    scale_lab,
    settled,
    wait_new_master,
)
from lab.harness import AgentPool, sqlite_pool  # noqa: E402
from lab.scale.fleet import ScaleLab  # noqa: E402
from shared.config import PollingConfig  # noqa: E402

AGENTS = {"fo-a": 300, "fo-b": 200, "fo-c": 100}


def steady_cpu(pool: AgentPool, nodes: list[str], window: float) -> tuple[float, int]:
    """(CPU-s of the agents, NE polls they made) over ``window`` s."""
    pids = {n: pool[n].pid for n in nodes}
    assert all(pids.values())
    polls0 = poll_counts(pool, nodes)
    cpu0 = sum(cpu_of(p) for p in pids.values() if p)
    time.sleep(window)
    cpu1 = sum(cpu_of(p) for p in pids.values() if p)
    polls1 = poll_counts(pool, nodes)
    return cpu1 - cpu0, sum(polls1.values()) - sum(polls0.values())


def single_agent_cpu(tmp: Path, lab: ScaleLab, args: argparse.Namespace) -> tuple[float, int]:
    db_url = sqlite_pool(tmp / "single.db", lab.inventory())
    every = set(lab.names)
    polling = {"timeout": args.timeout, "retries": args.retries}
    with AgentPool(tmp / "single", db_url, interval=args.interval, polling=polling) as pool:
        pool.add("solo", priority=100)
        pool.start("solo")
        pool.wait_for_master(60)
        settled(pool, every, lambda: {"solo"}, args.settle, 180)
        time.sleep(args.interval + 5)  # the first (full) cycle of every NE is over
        return steady_cpu(pool, ["solo"], args.window)


def one_run(
    pool: AgentPool, lab: ScaleLab, every: set[str], args: argparse.Namespace
) -> dict[str, Any]:
    def running() -> set[str]:
        return set(pool.running)

    # The top-ranked running agent leads once its hold-down after a restart is over: wait
    # for that, so no preemption falls inside the run.
    top = max(pool.running, key=lambda n: AGENTS[n])
    deadline = time.monotonic() + 120
    master, epoch = pool.wait_for_master(120)
    while master != top and time.monotonic() < deadline:
        time.sleep(0.5)
        master, epoch = pool.wait_for_master(120)
    table = settled(pool, every, running, args.settle, 240)
    # A steady pool, not one still in the storm of full first polls that follows a start
    # or a takeover (the returning master's from the previous run): a kill during that
    # storm is a harder case, measured apart with --warm 0.
    time.sleep(args.warm)
    master, epoch = pool.wait_for_master(30)  # the same one, unless it changed meanwhile
    orphans = sorted(ne for ne, owner in table.owners.items() if owner == master)
    survivors = [pool[n].pid for n in pool.running if n != master]
    assert lab.proc is not None
    cpu0 = (sum(cpu_of(p) for p in survivors if p), cpu_of(lab.proc.pid))
    held0 = _held(pool, [n for n in pool.running if n != master])
    snmp0 = _snmp(pool, [n for n in pool.running if n != master])
    lab0 = lab.control.status()
    t0 = time.time()
    pool.kill(master)
    lab.control.mark()
    new_master, new_epoch = wait_new_master(pool, {master}, epoch + 1, 30)
    t_master = time.time() - t0
    deadline = time.monotonic() + args.orphan_timeout
    firsts: dict[str, float] = {}
    while time.monotonic() < deadline:
        polls = lab.control.polls(orphans)
        firsts = {ne: p[1] for ne, p in polls.items() if p[1] > 0}
        if len(firsts) == len(orphans):
            break
        time.sleep(0.1)
    delays = [firsts[ne] - t0 for ne in firsts]
    alive = [n for n in pool.running if n != master]
    done = _completed(pool, alive, set(orphans), t0, deadline)
    cpu1 = (sum(cpu_of(p) for p in survivors if p), cpu_of(lab.proc.pid))
    busy = time.time() - t0
    held = _held(pool, alive) - held0
    snmp = {k: v - snmp0.get(k, 0) for k, v in _snmp(pool, alive).items()}
    lab1 = lab.control.status()
    time.sleep(1.0)
    doubled = [ne for ne, p in lab.control.polls().items() if p[3] > 1]
    pool.start(master)
    return {
        "master": master,
        "new_master": new_master,
        "epochs": (epoch, new_epoch),
        "to_master": t_master,
        "orphans": len(orphans),
        "repolled": len(firsts),
        "delays": delays,
        "completed": [done[ne] - t0 for ne in done],
        "snmp": snmp,
        "responder": {
            k: lab1["stats"].get(k, 0) - lab0["stats"].get(k, 0)
            for k in ("received", "answered", "malformed", "dropped_unreachable")
        },
        "faults": len(lab1["faults"]),
        "last": max(delays) if delays and len(firsts) == len(orphans) else float("inf"),
        "doubled": len(doubled),
        "busy": busy,
        "held": held,
        "cpu_survivors": cpu1[0] - cpu0[0],
        "cpu_responder": cpu1[1] - cpu0[1],
    }


def _completed(
    pool: AgentPool, nodes: list[str], orphans: set[str], t0: float, deadline: float
) -> dict[str, float]:
    """Orphan -> end of its first poll since t0 (the taker's own clock, ``last_poll``): the
    first request reaching the NE is when polling resumed, this is when its state is
    current again."""
    done: dict[str, float] = {}
    while time.monotonic() < deadline:
        for node in nodes:
            for st in pool.request(node, "ne_states", timeout=10.0):
                last = st.get("last_poll")
                if st["name"] in orphans and last is not None and last > t0:
                    done[st["name"]] = last
        if len(done) == len(orphans):
            break
        time.sleep(0.2)
    return done


def _snmp(pool: AgentPool, nodes: list[str]) -> dict[str, int]:
    """The agents' SNMP transport counters, summed (both transports)."""
    total: dict[str, int] = {}
    for n in nodes:
        for stats in pool.status(n, timeout=5.0).get("snmp", {}).values():
            for k, v in stats.items():
                total[k] = total.get(k, 0) + int(v)
    return total


def _held(pool: AgentPool, nodes: list[str]) -> int:
    """Polls the agents' pollers skipped because their follower was in doubt (status)."""
    return sum(int(pool.status(n, timeout=5.0).get("poller", {}).get("held", 0)) for n in nodes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nes", type=int, default=60)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--interval", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--orphan-timeout", type=float, default=90.0)
    ap.add_argument("--cpu", action="store_true", help="CPU per NE poll: 1 agent, then 3")
    ap.add_argument(
        "--window",
        type=float,
        help="--cpu: seconds measured (default: one interval, as the "
        "NEs' phases bunch their polls in the first 10 s of each)",
    )
    ap.add_argument(
        "--warm",
        type=float,
        default=15.0,
        help="seconds waited after the table settles, before the kill (first polls done)",
    )
    ap.add_argument(
        "--concurrency", type=int, help="the agents' polling.concurrency (default: theirs)"
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=PollingConfig().timeout,
        help="the agents' polling.timeout (default: the product's, not the test harness's 1 s)",
    )
    ap.add_argument("--retries", type=int, default=PollingConfig().retries)
    ap.add_argument("--keep", action="store_true", help="keep the agents' logs (printed dir)")
    args = ap.parse_args()
    args.window = args.window or args.interval
    print(f"load average at start: {load_average()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    lab = scale_lab(tmp / "lab", args.nes)
    every = set(lab.names)
    try:
        if args.cpu:
            cpu, polls = single_agent_cpu(tmp, lab, args)
            print(
                f"1 agent, {args.nes} NEs every {args.interval:g} s: {polls} polls in "
                f"{args.window:g} s, {cpu:.2f} CPU-s = "
                f"{1000 * cpu / max(1, polls):.2f} ms per NE poll"
            )
        db_url = sqlite_pool(tmp / "emspool.db", lab.inventory())
        polling: dict[str, Any] = {"timeout": args.timeout, "retries": args.retries}
        if args.concurrency:
            polling["concurrency"] = args.concurrency
        with AgentPool(tmp / "pool", db_url, interval=args.interval, polling=polling) as pool:
            for node, priority in AGENTS.items():
                pool.add(node, priority=priority)
            pool.start_all()
            pool.wait_for_master(60)
            settled(pool, every, lambda: set(pool.running), args.settle, 240)
            if args.cpu:
                time.sleep(args.interval + 5)
                cpu, polls = steady_cpu(pool, list(AGENTS), args.window)
                print(
                    f"3 agents, same NEs: {polls} polls in {args.window:g} s, {cpu:.2f} CPU-s "
                    f"(all 3) = {1000 * cpu / max(1, polls):.2f} ms per NE poll"
                )
            runs: list[dict[str, Any]] = []
            for k in range(args.runs):
                r = one_run(pool, lab, every, args)
                runs.append(r)
                print(
                    f"run {k + 1}: killed {r['master']} (epoch {r['epochs'][0]}) -> "
                    f"{r['new_master']} (epoch {r['epochs'][1]}) in {r['to_master']:.2f} s; "
                    f"{r['repolled']}/{r['orphans']} orphans polled again, last at "
                    f"{r['last']:.2f} s, p50 {percentile(r['delays'], 50):.2f} s; "
                    f"NEs polled from 2+ sockets since the kill: {r['doubled']}; "
                    f"CPU over those {r['busy']:.1f} s: survivors {r['cpu_survivors']:.2f} s, "
                    f"responder {r['cpu_responder']:.2f} s; polls held by the survivors "
                    f"(assignment in doubt): {r['held']}; first polls ended: last at "
                    f"{max(r['completed'], default=float('nan')):.2f} s, p50 "
                    f"{percentile(r['completed'], 50):.2f} s ({len(r['completed'])}); "
                    f"SNMP sent {r['snmp'].get('sent', 0)}, retries "
                    f"{r['snmp'].get('retries', 0)}, timeouts {r['snmp'].get('timeouts', 0)}, "
                    f"late answers {r['snmp'].get('unknown_request_id', 0)}; responder "
                    f"{r['responder']}",
                    flush=True,
                )
    finally:
        lab.stop()
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    masters = [r["to_master"] for r in runs]
    lasts = [r["last"] for r in runs]
    every_delay = [d for r in runs for d in r["delays"]]
    ended = [max(r["completed"], default=float("inf")) for r in runs]
    every_end = [d for r in runs for d in r["completed"]]
    print(
        f"\n{len(runs)} runs, {args.nes} NEs, 3 agents, interval {args.interval:g} s\n"
        f"  kill -9 master -> new master:        p50 {percentile(masters, 50):.2f} s, "
        f"p99 {percentile(masters, 99):.2f} s, max {max(masters):.2f} s\n"
        f"  kill -9 master -> last orphan polled: p50 {percentile(lasts, 50):.2f} s, "
        f"p99 {percentile(lasts, 99):.2f} s, max {max(lasts):.2f} s\n"
        f"  every orphan ({len(every_delay)}) polled again: p50 "
        f"{percentile(every_delay, 50):.2f} s, p99 {percentile(every_delay, 99):.2f} s\n"
        f"  kill -9 master -> last orphan's first poll ended: p50 "
        f"{percentile(ended, 50):.2f} s, p99 {percentile(ended, 99):.2f} s\n"
        f"  every orphan's first poll ended: p50 {percentile(every_end, 50):.2f} s, "
        f"p99 {percentile(every_end, 99):.2f} s\n"
        f"  runs with an NE polled from 2+ sockets after the kill: "
        f"{sum(1 for r in runs if r['doubled'])}"
    )
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

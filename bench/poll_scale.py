"""Figure 2, scale: NEs polled per 60-s cycle per CPU core.

A 48-port NE; every cycle reads sysUpTime and the status, octet and error counters of every
interface; every 10th cycle also reads names, speeds and LLDP. Target >= 1,000 NEs per core per
minute.

What is measured is the agent's poller, not the responder: a lab of snmpsim 48-port switches
(leaf-spine, half v2c, half SNMPv3 authPriv) answers, and one asyncio loop in this process runs a
real ``agent.poller.Poller`` + ``shared.nodal.NodalModel`` over many *virtual* NEs (``--nes``)
that map round-robin onto the lab devices of one SNMP version. Cycles run back to back: cycle 0
(full) is an untimed warm-up that learns every NE, then cycles 1..``--cycles`` are timed
(with the default 10, cycle 10 is the one full/LLDP cycle of the window). In each cycle every NE
is polled once through ``Poller.poll_once`` with the poller's own concurrency bound.

    figure = 60 s / (CPU-s of this process per NE poll, averaged over the window)

CPU is ``time.process_time()`` of this process only. The wall-clock rate is printed too, but it
is bounded by snmpsim (~7.6k varbinds/s per core, see NOTES.md) on a 2-core machine shared with
the bench itself, so it says little about the agent; the lab's CPU over the window is printed
for that reason.

    .venv/bin/python bench/poll_scale.py [--nes 100] [--devices 8] [--cycles 10]
                                         [--versions 2c,3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.poller import Poller, PollTarget, _NeSchedule  # noqa: E402
from agent.snmp import SnmpClient  # noqa: E402
from lab.fleet import Lab  # noqa: E402
from lab.state import V2C_PROFILE, V3_PROFILE  # noqa: E402
from shared.config import PollingConfig  # noqa: E402
from shared.model import Event, NetworkElement  # noqa: E402
from shared.nodal import NodalModel  # noqa: E402

LLDP_EVERY = 10
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CycleStats:
    cycle: int
    full: bool
    polls: int
    failures: int
    varbinds: int
    cpu: float
    wall: float


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _random_base() -> str:
    # A /24 of its own, away from 127.0.0.x and the lab default 127.0.10.x.
    return f"127.{random.randint(100, 250)}.{random.randint(1, 254)}.0"


def _cpu_of(pids: list[int]) -> float:
    """user + system CPU seconds of running processes (children of theirs not included)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / _TICKS


async def run_version(
    lab: Lab, version: str, nes: int, cycles: int, concurrency: int, timeout: float, budget: float
) -> tuple[list[CycleStats], float]:
    """Warm-up cycle + ``cycles`` timed ones; returns the timed cycles and the lab's CPU-s.

    Stops early (fewer timed cycles) once ``budget`` wall seconds are spent."""
    profile_name = V2C_PROFILE if version == "2c" else V3_PROFILE
    profile = lab.profiles()[profile_name]
    devices = [d for d in lab.devices if d.profile == profile_name]
    if not devices:
        raise SystemExit(f"the lab has no {version} device")
    pids = [d.pid for d in devices if d.pid is not None]
    config = PollingConfig(
        timeout=timeout, retries=1, concurrency=concurrency, lldp_every=LLDP_EVERY
    )
    model = NodalModel("bench-agent")
    events: list[Event] = []
    client = SnmpClient(max_repetitions=config.max_repetitions)
    poller = Poller(client, model, events.extend, config)
    scheds: list[_NeSchedule] = []
    for i in range(nes):
        dev = devices[i % len(devices)]
        ne = NetworkElement(
            name=f"vne{i:05d}", address=dev.address, port=dev.port, profile=profile_name
        )
        model.add_ne(ne.name)
        scheds.append(_NeSchedule(PollTarget(ne, profile)))
    out: list[CycleStats] = []
    lab_total = 0.0
    deadline = time.monotonic() + budget
    try:
        for cycle in range(cycles + 1):
            full = scheds[0].cycle % LLDP_EVERY == 0
            before = dict(poller.stats)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            lab_cpu0 = _cpu_of(pids)
            await asyncio.gather(*(poller.poll_once(s) for s in scheds))
            stats = CycleStats(
                cycle=cycle,
                full=full,
                polls=poller.stats["polls"] - before["polls"],
                failures=poller.stats["failures"] - before["failures"],
                varbinds=poller.stats["varbinds"] - before["varbinds"],
                cpu=time.process_time() - cpu0,
                wall=time.perf_counter() - wall0,
            )
            lab_cpu = _cpu_of(pids) - lab_cpu0
            print(
                f"  v{version} cycle {cycle:>2} {'full' if full else 'fast'}"
                f"{' (warm-up, not counted)' if cycle == 0 else ''}: {stats.polls} polls,"
                f" {stats.failures} failed, {stats.varbinds} vb, {stats.cpu:6.2f} CPU-s,"
                f" {stats.wall:6.2f} wall-s, lab {lab_cpu:6.2f} CPU-s",
                flush=True,
            )
            out.append(stats)
            if cycle > 0:
                lab_total += lab_cpu
            if time.monotonic() > deadline:
                print(f"  time budget of {budget:g} s spent: stopping after cycle {cycle}")
                break
    finally:
        await poller.close()
        client.close()
    alarms = len(model.alarms.active())
    print(f"  v{version}: {alarms} active alarms, {len(events)} events at the end")
    return out[1:], lab_total


def report(version: str, window: list[CycleStats], nes: int, lab_cpu: float) -> float:
    polls = sum(c.polls for c in window)
    failures = sum(c.failures for c in window)
    cpu = sum(c.cpu for c in window)
    wall = sum(c.wall for c in window)
    varbinds = sum(c.varbinds for c in window)
    per_poll = cpu / polls
    figure = 60.0 / per_poll
    fast = [c for c in window if not c.full]
    full = [c for c in window if c.full]
    print(
        f"v{version}: {len(window)} cycles x {nes} NEs = {polls} polls ({failures} failed),"
        f" {varbinds / polls:.0f} vb per poll (LLDP rows not counted)"
    )
    print(f"  CPU per NE poll        {1000 * per_poll:7.2f} ms (window average)")
    for label, group in (("fast", fast), ("full", full)):
        if group:
            g_cpu = sum(c.cpu for c in group) / sum(c.polls for c in group)
            print(f"  CPU per {label} poll      {1000 * g_cpu:7.2f} ms")
    print(f"  FIGURE 2 (v{version}): {figure:,.0f} NEs per core per 60-s cycle (target >= 1,000)")
    print(
        f"  wall-clock: {polls / wall:.1f} NE polls/s = {60 * polls / wall:,.0f} NEs per minute"
        f" ({varbinds / wall:,.0f} vb/s), bounded by the snmpsim lab"
    )
    print(
        f"  lab responders: {lab_cpu:.1f} CPU-s over the window ="
        f" {1000 * lab_cpu / polls:.1f} ms per poll ({lab_cpu / wall:.2f} cores busy)"
    )
    if failures:
        print(f"  WARNING: {failures} polls failed (responder overloaded?): figure is suspect")
    return figure


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nes", type=int, default=100, help="virtual NEs polled per cycle")
    ap.add_argument("--devices", type=int, default=8, help="lab devices (half v2c, half v3)")
    ap.add_argument("--cycles", type=int, default=10, help="timed cycles after the warm-up")
    ap.add_argument("--versions", default="2c,3", help="comma list of 2c and/or 3")
    ap.add_argument("--concurrency", type=int, default=16, help="polls in flight")
    ap.add_argument("--timeout", type=float, default=5.0, help="per-request SNMP timeout")
    ap.add_argument("--budget", type=float, default=600.0, help="wall seconds per version")
    opts = ap.parse_args()
    versions = [v.strip() for v in opts.versions.split(",") if v.strip()]
    if not set(versions) <= {"2c", "3"} or opts.devices < 2 or opts.nes < 1:
        ap.error("versions must be 2c and/or 3; devices >= 2; nes >= 1")

    tmp = Path(tempfile.mkdtemp(prefix="emspool-scale-"))
    lab = Lab.create(
        tmp / "lab",
        count=opts.devices,
        topology_kind="leaf-spine",
        base_address=_random_base(),
        port=_free_udp_port(),
        v3_share=0.5,
    )
    figures: dict[str, float] = {}
    try:
        took = lab.start()
        ports = sorted({d.ports for d in lab.devices})
        print(
            f"lab: {opts.devices} snmpsim switches ({ports} ports) up in {took:.1f} s;"
            f" {opts.nes} virtual NEs per version; concurrency {opts.concurrency};"
            f" LLDP every {LLDP_EVERY} cycles",
            flush=True,
        )
        for version in versions:
            window, lab_cpu = asyncio.run(
                run_version(
                    lab,
                    version,
                    opts.nes,
                    opts.cycles,
                    opts.concurrency,
                    opts.timeout,
                    opts.budget,
                )
            )
            if window:
                figures[version] = report(version, window, opts.nes, lab_cpu)
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    for version, figure in figures.items():
        print(f"Figure 2, v{version}: {figure:,.0f} NEs per core per minute (target >= 1,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The scale responder (lab.scale): NE polls it serves per CPU core, and its memory.

For each ``--counts`` value a scale lab of that many NEs (ring, half v2c, half v3 authPriv)
is started in its own process; its RSS is read from /proc after start and again after the
polling. The load is the agent's own poller (``agent.poller.Poller`` + ``NodalModel`` in this
process, ``--concurrency`` polls in flight) over ``--nes`` NEs of the lab per SNMP version:
back-to-back cycles in which every NE is polled once, cycle 0 (full: names, speeds, LLDP) an
untimed warm-up, cycles 1..``--cycles`` timed (every 10th one full, as the agent does).

    polls per core = NE polls answered / CPU-s of the responder process over the window

The responder's CPU comes from /proc/PID/stat (user + system), the poller's from
``time.process_time()``; both print, with the wall-clock rate (bounded here by the poller
sharing the 2 cores with the responder, so it says little about either).

    .venv/bin/python bench/scale_responder.py [--counts 10,3000,10000] [--nes 500] [--cycles 10]
                                              [--versions 2c,3] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.poller import Poller, PollTarget, _NeSchedule  # noqa: E402
from agent.snmp import SnmpClient  # noqa: E402
from lab.scale.fleet import ScaleLab  # noqa: E402
from lab.state import V2C_PROFILE, V3_PROFILE  # noqa: E402
from shared.config import PollingConfig  # noqa: E402
from shared.model import CredentialProfile, Event, NetworkElement, SnmpVersion  # noqa: E402
from shared.nodal import NodalModel  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def profiles(inv: dict) -> dict[str, CredentialProfile]:
    out: dict[str, CredentialProfile] = {}
    for p in inv["profiles"]:
        if p.get("version") == "3":
            out[p["name"]] = CredentialProfile(
                p["name"],
                SnmpVersion.V3,
                user=p["user"],
                auth_protocol=p["auth_protocol"],
                auth_key=p["auth_key"],
                priv_protocol=p["priv_protocol"],
                priv_key=p["priv_key"],
            )
        elif p.get("version") == "2c":
            out[p["name"]] = CredentialProfile(p["name"], SnmpVersion.V2C, community=p["community"])
    return out


async def load(
    lab: ScaleLab, version: str, nes: int, cycles: int, concurrency: int, budget: float
) -> dict[str, float]:
    assert lab.proc is not None
    pid = lab.proc.pid
    inv = lab.inventory()
    wanted = V2C_PROFILE if version == "2c" else V3_PROFILE
    profile = profiles(inv)[wanted]
    devices = [d for d in inv["devices"] if d["profile"] == wanted][:nes]
    config = PollingConfig(timeout=2.0, retries=1, concurrency=concurrency, lldp_every=10)
    model = NodalModel("bench")
    events: list[Event] = []
    client = SnmpClient(max_repetitions=config.max_repetitions)
    poller = Poller(client, model, events.extend, config)
    scheds = []
    for d in devices:
        ne = NetworkElement(
            name=d["name"],
            address=d["address"],
            port=d["port"],
            profile=wanted,
            engine_id=d["engine_id"],
        )
        model.add_ne(ne.name)
        scheds.append(_NeSchedule(PollTarget(ne, profile)))
    try:
        await asyncio.gather(*(poller.poll_once(s) for s in scheds))  # warm-up, full
        polls0, fails0, vb0 = (poller.stats[k] for k in ("polls", "failures", "varbinds"))
        r0, p0, w0 = cpu_of(pid), time.process_time(), time.monotonic()
        done = 0
        for _ in range(cycles):
            await asyncio.gather(*(poller.poll_once(s) for s in scheds))
            done += 1
            if time.monotonic() - w0 > budget:
                break
        r1, p1, w1 = cpu_of(pid), time.process_time(), time.monotonic()
    finally:
        client.close()
    polls = poller.stats["polls"] - polls0
    return {
        "cycles": done,
        "polls": polls,
        "failures": poller.stats["failures"] - fails0,
        "varbinds": poller.stats["varbinds"] - vb0,
        "responder_cpu": r1 - r0,
        "poller_cpu": p1 - p0,
        "wall": w1 - w0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="10,3000,10000", help="smallest first: the baseline")
    ap.add_argument("--nes", type=int, default=500, help="NEs polled per version")
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--versions", default="2c,3")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--budget", type=float, default=120.0, help="wall s per measurement")
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    baseline: tuple[int, float] | None = None  # (count, RSS) of the first, smallest lab
    try:
        for count in [int(c) for c in args.counts.split(",")]:
            base = f"127.{random.randint(100, 250)}.0.0"
            lab = ScaleLab.create(
                tmp / f"lab{count}", count, base_address=base, port=random.randint(20000, 60000)
            )
            started = lab.start(timeout=120.0)
            assert lab.proc is not None
            pid = lab.proc.pid
            time.sleep(0.5)
            rss0 = rss_mib(pid)
            print(
                f"\n{count} NEs: responder up in {started:.2f} s, RSS {rss0:.1f} MiB "
                f"({rss0 * 1024 / count:.1f} KiB per NE incl. the interpreter)"
            )
            if baseline is None:
                baseline = (count, rss0)
            elif count > baseline[0]:
                extra = (rss0 - baseline[1]) * 1024 / (count - baseline[0])
                print(f"  {extra:.2f} KiB per NE over the {baseline[0]}-NE responder")
            try:
                for version in args.versions.split(","):
                    r = asyncio.run(
                        load(lab, version, args.nes, args.cycles, args.concurrency, args.budget)
                    )
                    per_core = r["polls"] / r["responder_cpu"] if r["responder_cpu"] else 0.0
                    print(
                        f"  v{version}: {r['polls']:.0f} polls of {min(args.nes, count // 2)} NEs "
                        f"in {r['cycles']:.0f} cycles, {r['failures']:.0f} failed, "
                        f"{r['varbinds'] / max(1, r['polls']):.0f} vb/poll, "
                        f"wall {r['polls'] / r['wall']:.0f} polls/s\n"
                        f"      responder {r['responder_cpu']:.2f} CPU-s "
                        f"= {1000 * r['responder_cpu'] / max(1, r['polls']):.2f} ms per poll "
                        f"-> {per_core:,.0f} NE polls/s per core "
                        f"({per_core * 60:,.0f} NEs per 60-s cycle); "
                        f"poller {1000 * r['poller_cpu'] / max(1, r['polls']):.2f} ms per poll"
                    )
                print(f"  RSS after polling: {rss_mib(pid):.1f} MiB")
            finally:
                lab.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

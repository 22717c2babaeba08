"""NETCONF adapter figures (loopback, test server in this process).

1. <get> round trip: stock ncclient (TICK 0.1 s, queued sends) vs stock with TICK 0.01 vs
   our adapter (direct sends, ncclient's TICK left at its default), same run.
2. Idle CPU per open session (50 sessions, 10 s), at TICK 0.1 and 0.01.
3. One poll cycle over N NEs through NetconfPoller-style gets: wall time and CPU.
4. Notification -> alarm visible in the NodalModel, p50/p99.

Run: .venv/bin/python -m bench.netconf_rtt [--nes 300]
The server side (asyncssh) runs in this process too, so CPU figures are upper bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' NETCONF server

import ncclient.transport.session as nc_session
from ncclient import manager

from agent.netconf import NetconfClient, NetconfTarget
from agent.netconf.poller import NetconfPoller, NetconfPollTarget
from shared import yang
from shared.config import PollingConfig
from shared.model import AlarmKey, Event, NetworkElement, Protocol
from shared.nodal import NodalModel
from tests.helpers.ncserver import NcServer

N_RTT = 200


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000


async def stock_rtt(srv: NcServer, tick: float) -> list[float]:
    nc_session.TICK = tick

    def run() -> list[float]:
        m = manager.connect(
            host="127.0.0.1",
            port=srv.port,
            username=srv.user,
            password=srv.password,
            hostkey_verify=False,
            allow_agent=False,
            look_for_keys=False,
            timeout=5,
        )
        out = []
        try:
            for _ in range(N_RTT if tick < 0.05 else 40):
                t0 = time.perf_counter()
                m.get(f'<filter type="subtree">{yang.POLL_FILTER}</filter>')
                out.append(time.perf_counter() - t0)
        finally:
            m.close_session()
        return out

    return await asyncio.to_thread(run)


async def adapter_rtt(srv: NcServer) -> list[float]:
    c = NetconfClient()
    t = NetconfTarget("127.0.0.1", srv.port, srv.user, srv.password, host_key=srv.host_key_line)
    await c.connect(t)
    out = []
    for _ in range(N_RTT):
        t0 = time.perf_counter()
        await c.get(t, yang.POLL_FILTER)
        out.append(time.perf_counter() - t0)
    await c.aclose()
    return out


async def fleet(n: int, idle_seconds: float) -> None:
    """n devices, one persistent session each: idle CPU per session, then one poll cycle."""
    servers = [await NcServer(hostname=f"rtr{i:03d}").start() for i in range(n)]
    c = NetconfClient(workers=16)
    targets = [
        NetconfTarget(
            "127.0.0.1", s.port, s.user, s.password, host_key=s.host_key_line, timeout=10.0
        )
        for s in servers
    ]
    sem = asyncio.Semaphore(32)

    async def one(t: NetconfTarget) -> None:
        async with sem:
            await c.connect(t)

    await asyncio.gather(*(one(t) for t in targets))
    for tick in (0.1, 0.01):
        nc_session.TICK = tick  # read by every session thread on each loop turn
        await asyncio.sleep(0.5)
        c0, w0 = time.process_time(), time.monotonic()
        await asyncio.sleep(idle_seconds)
        per = (time.process_time() - c0) / (time.monotonic() - w0) / n
        print(f"idle CPU per open session, TICK={tick}: {per * 100:.3f} % of a core ({n} sessions)")
    nc_session.TICK = 0.1

    async def poll(t: NetconfTarget) -> None:
        async with sem:
            yang.poll_result("x", await c.get(t, yang.POLL_FILTER), time.time())

    c0, w0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(poll(t) for t in targets))
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    print(
        f"one poll cycle over {n} NEs (sessions open): wall {wall:.2f} s, CPU {cpu:.2f} s"
        f" -> {cpu / 60:.3f} core at one cycle per 60 s (server side included)"
    )
    await c.aclose()
    for s in servers:
        await s.stop()


async def notif_latency(srv: NcServer, count: int) -> list[float]:
    c = NetconfClient()
    model = NodalModel("bench")
    seen: dict[str, float] = {}

    def emit(events: list[Event]) -> None:
        for e in events:
            seen.setdefault(f"{e.obj}/{e.type}", time.perf_counter())

    poller = NetconfPoller(c, model, emit, PollingConfig(interval=3600.0))
    t = NetconfTarget("127.0.0.1", srv.port, srv.user, srv.password, host_key=srv.host_key_line)
    ne = NetworkElement("bench", "127.0.0.1", srv.port, protocols=frozenset({Protocol.NETCONF}))
    model.add_ne("bench")
    poller.set_targets({"bench": NetconfPollTarget(ne, t)})
    while not poller._nes["bench"].subscribed:
        await asyncio.sleep(0.05)
    out = []
    for i in range(count):
        name = f"ge-0/0/{1 + i % 12}"
        up = not srv.oper[name]
        t0 = time.perf_counter()
        srv.set_link(name, up)
        want = f"ifIndex={1 + i % 12}/" + ("alarm-cleared" if up else "alarm-raised")
        seen.pop(want, None)
        while want not in seen:
            await asyncio.sleep(0.0005)
        out.append(seen[want] - t0)
        await asyncio.sleep(0.01)
    assert model.alarms.get(AlarmKey("bench", "ifIndex=1", "link-down")) is not None
    await poller.close()
    await c.aclose()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nes", type=int, default=300)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    args = ap.parse_args()
    srv = await NcServer().start()
    print("<get> round trip, 24-port device, loopback (ms)")
    for label, coro in (
        ("stock ncclient TICK=0.1 (default)", stock_rtt(srv, 0.1)),
        ("stock ncclient TICK=0.01", stock_rtt(srv, 0.01)),
        ("stock ncclient TICK=0.001", stock_rtt(srv, 0.001)),
        ("emspool adapter (direct send, TICK 0.1)", adapter_rtt(srv)),
    ):
        xs = await coro
        print(f"  {label:42s} median {pct(xs, 50):7.2f}  p99 {pct(xs, 99):7.2f}  (n={len(xs)})")
    nc_session.TICK = 0.1
    lat = await notif_latency(srv, 100)
    print(f"notification -> alarm visible: p50 {pct(lat, 50):.2f} ms  p99 {pct(lat, 99):.2f} ms")
    await srv.stop()
    await fleet(args.nes, args.idle_seconds)


if __name__ == "__main__":
    asyncio.run(main())

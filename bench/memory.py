"""Figure 5, memory: RSS of one agent with 1,000 NEs and 50,000 standing alarms (target <= 300 MB).

A real ``emspool-agent`` process (``python -m agent.main --config X``) on a fresh SQLite
database in a temporary directory whose inventory holds ``--nes`` NEs, each on its own loopback
address (127.a.b.c) and a UDP port where nothing listens. Every NE is polled once (the poll
interval is an hour), gets no answer and raises its "NE unreachable" alarm: ``--nes`` alarms.
Then each NE sends ``--ifs`` distinct SNMPv2c linkDown traps (one ifIndex each) from its own
address, paced at ``--rate`` traps/s: ``--ifs`` link-down alarms per NE. Unreachable NEs never
poll successfully, so nothing reconciles the trap alarms away. The bench waits until the bus
request ``status`` reports every alarm active and the outbox has written every event, then reads
VmRSS (and VmHWM, the peak) from /proc/<pid>/status.

Printed: RSS right after start (baseline), with the NEs managed and unreachable, with all
alarms standing, and bytes per alarm; then the agent's exit code after SIGTERM.

    .venv/bin/python bench/memory.py [--nes 1000] [--ifs 49] [--rate 2000]
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent import busclient  # noqa: E402
from lab.harness import (  # noqa: E402
    bus_key,
    client_for,
    free_port,
    sqlite_pool,
    start_agent,
    stop_process,
    wait_for_agent,
    write_agent_config,
)
from shared import mib  # noqa: E402
from shared.ber import encode_notification  # noqa: E402

PROFILE = "mem-v2c"


def ne_addresses(count: int) -> list[str]:
    """Distinct loopback addresses in a random 127.a.0.0/16 away from 127.0.x.x."""
    a = random.randint(100, 250)
    return [f"127.{a}.{1 + i // 250}.{1 + i % 250}" for i in range(count)]


def make_inventory(addresses: list[str], port: int, community: str) -> dict[str, Any]:
    return {
        "version": 1,
        "profiles": [{"name": PROFILE, "version": "2c", "community": community}],
        "devices": [
            {"name": f"ne{i:05d}", "address": addr, "port": port, "profile": PROFILE}
            for i, addr in enumerate(addresses)
        ],
    }


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def wait_until(
    router: busclient.BusClient, what: str, ok: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """Poll the agent's status until ``ok(status)``; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = router.request("status", timeout=10.0)
        if ok(status):
            return status
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not reached within {timeout:g} s; last status {status}")


def send_link_downs(
    addresses: list[str], trap_port: int, community: str, ifs: int, rate: float
) -> int:
    """``ifs`` linkDown traps from each address, paced at ``rate``/s; returns how many."""
    target = ("127.0.0.1", trap_port)
    sent = 0
    start = time.perf_counter()
    for addr in addresses:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((addr, 0))
            for idx in range(1, ifs + 1):
                trap = encode_notification(
                    community.encode(),
                    mib.TRAP_LINK_DOWN,
                    [
                        ((*mib.IF_INDEX, idx), idx),
                        ((*mib.IF_ADMIN_STATUS, idx), 1),
                        ((*mib.IF_OPER_STATUS, idx), 2),
                    ],
                    uptime=100_000 + idx,
                    request_id=sent,
                )
                # Paced: never ahead of the schedule, so the receive buffer never overflows.
                ahead = start + sent / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
                sock.sendto(trap, target)
                sent += 1
    return sent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nes", type=int, default=1000)
    ap.add_argument("--ifs", type=int, default=49, help="link-down alarms per NE")
    ap.add_argument("--rate", type=float, default=2000.0, help="traps per second")
    ap.add_argument("--timeout", type=float, default=300.0, help="bound on each wait (s)")
    opts = ap.parse_args()
    if opts.nes < 1 or opts.nes > 250 * 254 or opts.ifs < 0 or opts.rate <= 0:
        ap.error("need 1 <= nes <= 63500, ifs >= 0, rate > 0")
    want = opts.nes * (1 + opts.ifs)

    tmp = Path(tempfile.mkdtemp(prefix="emspool-mem-"))
    agent: subprocess.Popen[bytes] | None = None
    try:
        community = "mem-" + secrets.token_hex(6)
        addresses = ne_addresses(opts.nes)
        # A UDP port nobody listens on (bound for a moment, then closed): polls time out.
        dead_port = free_port(socket.SOCK_DGRAM)
        inventory = make_inventory(addresses, dead_port, community)
        db_url = sqlite_pool(tmp / "emspool.db", inventory)
        config = tmp / "agent.toml"
        endpoint, trap_port = write_agent_config(
            config,
            "mem-bench",
            tmp / "agent",
            db_url,
            3600,
            agent={"log_level": "WARNING"},
            polling={"retries": 0, "concurrency": 200},
            alarms={"restart_hold": 300},  # the agent's default
        )
        log_path = tmp / "agent.log"
        agent = start_agent(config, log_path)
        router = client_for(db_url, bus_key(db_url, tmp), endpoint)
        wait_for_agent(router, agent, 60.0)
        base = rss_kib(agent.pid)
        print(f"agent pid {agent.pid} up; RSS right after start: {base / 1024:.1f} MiB", flush=True)

        t0 = time.monotonic()
        wait_until(
            router,
            f"{opts.nes} NEs unreachable",
            lambda s: s["managed"] == opts.nes and s["alarms_active"] >= opts.nes,
            opts.timeout,
        )
        managed = rss_kib(agent.pid)
        print(
            f"{opts.nes} NEs managed, polled, {opts.nes} unreachable alarms"
            f" ({time.monotonic() - t0:.1f} s): RSS {managed / 1024:.1f} MiB",
            flush=True,
        )

        t0 = time.monotonic()
        sent = send_link_downs(addresses, trap_port, community, opts.ifs, opts.rate)
        took = time.monotonic() - t0
        print(f"sent {sent} linkDown traps in {took:.1f} s ({sent / took:,.0f}/s)", flush=True)
        status = wait_until(
            router,
            f"{want} active alarms and the outbox drained",
            lambda s: s["alarms_active"] >= want and s["outbox"]["pending"] == 0,
            opts.timeout,
        )
        time.sleep(2.0)  # let the event loop go idle before reading the RSS
        final = rss_kib(agent.pid)
        peak = rss_kib(agent.pid, "VmHWM")
        alarms = int(status["alarms_active"])
        per_alarm = (final - managed) * 1024 / max(1, alarms - opts.nes)
        print(
            f"traps accepted {status['traps'].get('accepted')}, events written"
            f" {status['outbox'].get('inserted')}, alarms active {alarms}"
        )
        print(f"RSS with {alarms:,} standing alarms: {final / 1024:.1f} MiB", end="")
        print(f" (peak {peak / 1024:.1f} MiB)")
        print(f"  ~{per_alarm:,.0f} bytes per link-down alarm (growth since the NEs were managed)")
        print(
            f"FIGURE 5: agent RSS with {opts.nes:,} NEs and {alarms:,} standing alarms:"
            f" {final / 1024:.0f} MiB (target <= 300 MB = 286 MiB)"
        )
        code = agent.poll()
        if code is not None:
            print(f"agent exited early with code {code}")
            return 1
        t0 = time.monotonic()
        stop_process(agent)
        took = time.monotonic() - t0
        print(f"agent stopped by SIGTERM in {took:.1f} s, exit code {agent.returncode}")
        return 0
    except BaseException:
        if agent is not None:
            log = (tmp / "agent.log").read_text(errors="replace")[-3000:]
            print(f"agent log tail:\n{log}", file=sys.stderr)
        raise
    finally:
        if agent is not None:
            stop_process(agent)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

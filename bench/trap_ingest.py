"""Trap ingest: how many v2c traps/s the receiver absorbs with zero loss, beside pysnmp's.

For each receiver ("fast" = agent.traps.TrapReceiver, "pysnmp" = pysnmp's bare
NotificationReceiver) and each rate, a fresh receiver process and a separate sender
process run for --duration seconds; the sender blasts pre-encoded linkDown traps
(7 varbinds) from 127.0.0.2 at a fixed rate. Both receivers get the same 4 MiB SO_RCVBUF
(SO_RCVBUFFORCE as root), so loss means the receiver fell behind for longer than the
buffer covers. Printed per step: sent, accepted, loss %, receiver CPU-s per 1000 traps,
and the pysnmp/fast CPU ratio.

    .venv/bin/python bench/trap_ingest.py [--duration 30] [--rates 1000,1500,2000,3000,5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.traps import TrapReceiver, set_receive_buffer  # noqa: E402
from shared.ber import Gauge32, encode_notification  # noqa: E402
from shared.model import CredentialProfile, SnmpVersion  # noqa: E402

COMMUNITY = "bench-community"
SOURCE_IP = "127.0.0.2"
RCVBUF = 4 * 1024 * 1024
LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)


def linkdown_traps(count: int) -> list[bytes]:
    """Pre-encoded traps: sysUpTime, snmpTrapOID + 5 interface varbinds = 7."""
    out = []
    for i in range(count):
        idx = 1 + i % 48
        out.append(
            encode_notification(
                COMMUNITY.encode(),
                LINK_DOWN,
                [
                    ((*IF_ENTRY, 1, idx), idx),  # ifIndex
                    ((*IF_ENTRY, 7, idx), 1),  # ifAdminStatus up
                    ((*IF_ENTRY, 8, idx), 2),  # ifOperStatus down
                    ((*IF_ENTRY, 2, idx), f"GigabitEthernet0/{idx}".encode()),  # ifDescr
                    ((*IF_ENTRY, 5, idx), Gauge32(1_000_000_000)),  # ifSpeed
                ],
                uptime=100_000 + i,
                request_id=i,
            )
        )
    return out


# ---------------------------------------------------------------- sender process


def run_sender(port: int, rate: int, duration: float) -> None:
    traps = linkdown_traps(1000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.bind((SOURCE_IP, 0))
    dest = ("127.0.0.1", port)
    total = int(rate * duration)
    sent = 0
    start = time.perf_counter()
    # Paced in 1 ms ticks: send whatever the schedule says is due, then sleep.
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            sock.sendto(traps[sent % len(traps)], dest)
            sent += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    print(json.dumps({"sent": sent, "elapsed": elapsed}), flush=True)


# ---------------------------------------------------------------- receiver process


class _Stats:
    def __init__(self) -> None:
        self.accepted = 0
        self.cpu0 = 0.0
        self.wall0 = 0.0
        self.base = 0


async def _control(stats: _Stats, read_accepted: object) -> None:
    """Serve 'go' / 'stats' / 'quit' lines from the orchestrator on stdin."""
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "go":
            stats.cpu0 = time.process_time()
            stats.wall0 = time.perf_counter()
            stats.base = read_accepted()  # type: ignore[operator]
            print("ok", flush=True)
        elif line == "stats":
            cpu = time.process_time() - stats.cpu0
            accepted = read_accepted() - stats.base  # type: ignore[operator]
            wall = time.perf_counter() - stats.wall0
            print(json.dumps({"accepted": accepted, "cpu": cpu, "wall": wall}), flush=True)
        elif line in ("quit", ""):
            return


async def receive_fast() -> None:
    stats = _Stats()

    def on_notification(_: object) -> None:
        stats.accepted += 1

    rx = TrapReceiver(on_notification, "127.0.0.1", 0, rcvbuf=RCVBUF)
    rx.set_sources({SOURCE_IP: ("bench-ne", CredentialProfile("b", SnmpVersion.V2C, COMMUNITY))})
    await rx.start()
    try:
        print(json.dumps({"port": rx.address[1], "rcvbuf": rx.receive_buffer}), flush=True)
        await _control(stats, lambda: stats.accepted)
    finally:
        await rx.close()


async def receive_pysnmp() -> None:
    from pysnmp.carrier.asyncio.dgram import udp
    from pysnmp.entity import config, engine
    from pysnmp.entity.rfc3413 import ntfrcv

    stats = _Stats()
    snmp_engine = engine.SnmpEngine()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    granted = set_receive_buffer(sock, RCVBUF)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    transport = udp.UdpAsyncioTransport().open_server_mode(sock=sock)
    config.add_transport(snmp_engine, udp.DOMAIN_NAME, transport)
    config.add_v1_system(snmp_engine, "bench-area", COMMUNITY)

    def on_notification(*_: object) -> None:
        stats.accepted += 1

    ntfrcv.NotificationReceiver(snmp_engine, on_notification)
    await transport._lport
    try:
        print(json.dumps({"port": port, "rcvbuf": granted}), flush=True)
        await _control(stats, lambda: stats.accepted)
    finally:
        # Datagrams pysnmp queued with call_soon would fail noisily once it is closed.
        asyncio.get_running_loop().set_exception_handler(lambda *_: None)
        snmp_engine.close_dispatcher()


# ---------------------------------------------------------------- orchestrator


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _ask(proc: subprocess.Popen[str], command: str) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return proc.stdout.readline()


def one_step(mode: str, rate: int, duration: float) -> dict[str, float]:
    receiver = _child("--role", "receiver", "--mode", mode)
    sender: subprocess.Popen[str] | None = None
    try:
        assert receiver.stdout is not None
        hello = json.loads(receiver.stdout.readline())
        _ask(receiver, "go")
        sender = _child("--role", "sender", "--port", str(hello["port"]), "--rate", str(rate),
                        "--duration", str(duration))  # fmt: skip
        out, _ = sender.communicate(timeout=duration * 3 + 30)
        sent_info = json.loads(out)
        # Let the receiver drain its socket buffer: stop when the count stops moving.
        last = -1
        stats: dict[str, float] = {}
        for _ in range(50):  # at most ~10 s
            time.sleep(0.2)
            stats = json.loads(_ask(receiver, "stats"))
            if stats["accepted"] == last:
                break
            last = int(stats["accepted"])
        _ask(receiver, "quit")
        receiver.wait(timeout=10)
        return {
            "sent": sent_info["sent"],
            "send_rate": sent_info["sent"] / sent_info["elapsed"],
            "accepted": stats["accepted"],
            "cpu": stats["cpu"],
            "wall": stats["wall"],
            "rcvbuf": hello["rcvbuf"],
        }
    finally:
        for proc in (sender, receiver):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per step")
    parser.add_argument("--rates", default="1000,1500,2000,3000,5000")
    parser.add_argument("--modes", default="fast,pysnmp")
    parser.add_argument("--role", choices=("orchestrator", "sender", "receiver"),
                        default="orchestrator")  # fmt: skip
    parser.add_argument("--mode", choices=("fast", "pysnmp"), default="fast")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=int, default=1000)
    args = parser.parse_args()

    if args.role == "sender":
        run_sender(args.port, args.rate, args.duration)
        return
    if args.role == "receiver":
        asyncio.run(receive_fast() if args.mode == "fast" else receive_pysnmp())
        return

    rates = [int(r) for r in args.rates.split(",")]
    modes = args.modes.split(",")
    results: dict[tuple[str, int], dict[str, float]] = {}
    print(f"trap ingest, {args.duration:g} s per step, sender from {SOURCE_IP}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    header = f"{'receiver':8} {'rate/s':>7} {'sent':>8} {'accepted':>9} {'loss %':>7} "
    header += f"{'CPU-s/1000':>10} {'CPU %':>6} {'rcvbuf':>8}"
    print(header, flush=True)
    for mode in modes:
        for rate in rates:
            r = one_step(mode, rate, args.duration)
            results[(mode, rate)] = r
            loss = 100.0 * (r["sent"] - r["accepted"]) / r["sent"]
            per_k = 1000.0 * r["cpu"] / max(r["accepted"], 1)
            busy = 100.0 * r["cpu"] / r["wall"]  # share of one core, send + drain time
            print(f"{mode:8} {rate:7d} {int(r['sent']):8d} {int(r['accepted']):9d} {loss:7.2f} "
                  f"{per_k:10.4f} {busy:6.1f} {int(r['rcvbuf']):8d}", flush=True)  # fmt: skip
    if "fast" in modes and "pysnmp" in modes:
        print("\nCPU per trap, pysnmp NotificationReceiver / fast path:")
        for rate in rates:
            fast, ref = results[("fast", rate)], results[("pysnmp", rate)]
            ratio = (ref["cpu"] / max(ref["accepted"], 1)) / (
                fast["cpu"] / max(fast["accepted"], 1)
            )
            print(f"  {rate:5d}/s: {ratio:5.1f}x")
    for mode in modes:
        clean = [rate for rate in rates if results[(mode, rate)]["accepted"] >= results[
            (mode, rate)]["sent"]]  # fmt: skip
        best = max(clean) if clean else 0
        print(f"{mode}: highest rate with zero loss: {best}/s")


if __name__ == "__main__":
    main()

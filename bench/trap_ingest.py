"""Trap ingest: how many traps/s the receiver absorbs with zero loss, v2c and v3, beside pysnmp's.

For each receiver ("fast" = agent.traps.TrapReceiver, "pysnmp" = pysnmp's bare
NotificationReceiver), each version ("2c"; "3" = authPriv SHA-256 + AES-128 from the
sender's engine, as an NE sends traps) and each rate, a fresh receiver process and a
separate sender process run for --duration seconds; the sender blasts pre-encoded linkDown
traps (7 varbinds) from 127.0.0.2 at a fixed rate (v3 ones encrypted and signed before the
run, their engine time following the clock, so none is a replay). Both receivers get the
same 4 MiB SO_RCVBUF (SO_RCVBUFFORCE as root), so loss means the receiver fell behind for
longer than the buffer covers. Printed per step: sent, accepted, loss %, receiver CPU-s per
1000 traps, and the pysnmp/fast CPU ratio.

    .venv/bin/python bench/trap_ingest.py [--duration 30] [--rates 1000,1500,2000,3000,5000]
        [--versions 2c,3] [--modes fast,pysnmp]
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

from agent.traps import TrapReceiver, TrapSource, set_receive_buffer  # noqa: E402
from agent.usm import KeyCache, Salts, protect, usm_user  # noqa: E402
from shared import ber, usm  # noqa: E402
from shared.ber import Gauge32, encode_notification  # noqa: E402
from shared.model import CredentialProfile, SnmpVersion  # noqa: E402

COMMUNITY = "bench-community"
V3 = CredentialProfile(
    "bench-v3",
    SnmpVersion.V3,
    user="bench-user",
    auth_protocol="sha256",
    auth_key="bench-auth-key",
    priv_protocol="aes",
    priv_key="bench-priv-key",
)
NE_ENGINE = bytes.fromhex("80001f8804656d7362656e6368")
SOURCE_IP = "127.0.0.2"
RCVBUF = 4 * 1024 * 1024
LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)


def linkdown_traps(count: int, community: bytes = COMMUNITY.encode()) -> list[bytes]:
    """Pre-encoded traps: sysUpTime, snmpTrapOID + 5 interface varbinds = 7."""
    out = []
    for i in range(count):
        idx = 1 + i % 48
        out.append(
            encode_notification(
                community,
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


def v3_traps(count: int, rate: int) -> list[bytes]:
    """authPriv v3 traps from the NE's engine (boots 1), engine time advancing with the
    send schedule, each with its own salt and msgID: what an NE emits."""
    user = usm_user(V3)
    assert user is not None
    keys = KeyCache().keys(user, NE_ENGINE)
    salts = Salts()
    scoped = []
    for plain in linkdown_traps(min(count, 1000), b""):
        _tag, start, stop = ber._header(plain, 0, len(plain))
        pdu = plain[start + 5 : stop]  # past the version (1) and the empty community
        scoped.append(usm.encode_scoped_pdu(NE_ENGINE, b"", pdu))
    flags = usm.FLAG_AUTH | usm.FLAG_PRIV
    return [
        protect(
            user,
            keys,
            salts,
            msg_id=i + 1,
            flags=flags,
            engine_id=NE_ENGINE,
            boots=1,
            time=100 + i // rate,
            scoped=scoped[i % len(scoped)],
        )
        for i in range(count)
    ]


# ---------------------------------------------------------------- sender process


def run_sender(port: int, rate: int, duration: float, version: str) -> None:
    total = int(rate * duration)
    traps = v3_traps(total, rate) if version == "3" else linkdown_traps(1000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.bind((SOURCE_IP, 0))
    dest = ("127.0.0.1", port)
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


async def receive_fast(version: str) -> None:
    stats = _Stats()

    def on_notification(_: object) -> None:
        stats.accepted += 1

    rx = TrapReceiver(on_notification, "127.0.0.1", 0, rcvbuf=RCVBUF)
    if version == "3":
        rx.set_sources({SOURCE_IP: TrapSource("bench-ne", V3, engine_id=NE_ENGINE)})
    else:
        v2 = CredentialProfile("b", SnmpVersion.V2C, COMMUNITY)
        rx.set_sources({SOURCE_IP: ("bench-ne", v2)})
    await rx.start()
    try:
        print(json.dumps({"port": rx.address[1], "rcvbuf": rx.receive_buffer}), flush=True)
        await _control(stats, lambda: stats.accepted)
    finally:
        await rx.close()


async def receive_pysnmp(version: str) -> None:
    from pysnmp.carrier.asyncio.dgram import udp
    from pysnmp.entity import config, engine
    from pysnmp.entity.rfc3413 import ntfrcv
    from pysnmp.proto.rfc1902 import OctetString

    from agent.snmp._security import security_for

    stats = _Stats()
    snmp_engine = engine.SnmpEngine()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    granted = set_receive_buffer(sock, RCVBUF)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    transport = udp.UdpAsyncioTransport().open_server_mode(sock=sock)
    config.add_transport(snmp_engine, udp.DOMAIN_NAME, transport)
    if version == "3":
        sec = security_for(V3)
        config.add_v3_user(
            snmp_engine,
            V3.user,
            sec.auth_protocol,
            V3.auth_key,
            sec.priv_protocol,
            V3.priv_key,
            securityEngineId=OctetString(NE_ENGINE),
        )
    else:
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


def one_step(mode: str, version: str, rate: int, duration: float) -> dict[str, float]:
    receiver = _child("--role", "receiver", "--mode", mode, "--version", version)
    sender: subprocess.Popen[str] | None = None
    try:
        assert receiver.stdout is not None
        hello = json.loads(receiver.stdout.readline())
        _ask(receiver, "go")
        sender = _child("--role", "sender", "--port", str(hello["port"]), "--rate", str(rate),
                        "--duration", str(duration), "--version", version)  # fmt: skip
        out, _ = sender.communicate(timeout=duration * 3 + 120)
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
    parser.add_argument("--modes", default="fast,pysnmp", help="receivers: fast, pysnmp")
    parser.add_argument("--versions", default="2c,3", help="2c, 3 (authPriv) or both")
    parser.add_argument("--role", choices=("orchestrator", "sender", "receiver"),
                        default="orchestrator")  # fmt: skip
    parser.add_argument("--mode", choices=("fast", "pysnmp"), default="fast")
    parser.add_argument("--version", choices=("2c", "3"), default="2c")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=int, default=1000)
    args = parser.parse_args()

    if args.role == "sender":
        run_sender(args.port, args.rate, args.duration, args.version)
        return
    if args.role == "receiver":
        run = receive_fast if args.mode == "fast" else receive_pysnmp
        asyncio.run(run(args.version))
        return

    rates = [int(r) for r in args.rates.split(",")]
    modes = args.modes.split(",")
    versions = args.versions.split(",")
    results: dict[tuple[str, str, int], dict[str, float]] = {}
    print(f"trap ingest, {args.duration:g} s per step, sender from {SOURCE_IP}, "
          f"{os.cpu_count()} CPUs; v3 = authPriv SHA-256/AES-128")  # fmt: skip
    header = f"{'receiver':8} {'ver':>3} {'rate/s':>7} {'sent':>8} {'accepted':>9} {'loss %':>7} "
    header += f"{'CPU-s/1000':>10} {'CPU %':>6} {'rcvbuf':>8}"
    print(header, flush=True)
    for mode in modes:
        for version in versions:
            for rate in rates:
                r = one_step(mode, version, rate, args.duration)
                results[(mode, version, rate)] = r
                loss = 100.0 * (r["sent"] - r["accepted"]) / r["sent"]
                per_k = 1000.0 * r["cpu"] / max(r["accepted"], 1)
                busy = 100.0 * r["cpu"] / r["wall"]  # share of one core, send + drain time
                print(f"{mode:8} {version:>3} {rate:7d} {int(r['sent']):8d} "
                      f"{int(r['accepted']):9d} {loss:7.2f} {per_k:10.4f} {busy:6.1f} "
                      f"{int(r['rcvbuf']):8d}", flush=True)  # fmt: skip

    def per_trap(r: dict[str, float]) -> float:
        return r["cpu"] / max(r["accepted"], 1)

    if "fast" in modes and "pysnmp" in modes:
        print("\nCPU per trap, pysnmp NotificationReceiver / fast path:")
        for version in versions:
            for rate in rates:
                fast, ref = results[("fast", version, rate)], results[("pysnmp", version, rate)]
                print(f"  v{version:2} {rate:5d}/s: {per_trap(ref) / per_trap(fast):5.1f}x")
    if "fast" in modes and {"2c", "3"} <= set(versions):
        print("\nCPU per trap, fast path v3 authPriv / v2c:")
        for rate in rates:
            v3, v2 = results[("fast", "3", rate)], results[("fast", "2c", rate)]
            print(f"  {rate:5d}/s: {per_trap(v3) / per_trap(v2):5.1f}x")
    for mode in modes:
        for version in versions:
            clean = [rate for rate in rates
                     if results[(mode, version, rate)]["accepted"] >= results[
                         (mode, version, rate)]["sent"]]  # fmt: skip
            best = max(clean) if clean else 0
            print(f"{mode} v{version}: highest rate with zero loss: {best}/s")


if __name__ == "__main__":
    main()

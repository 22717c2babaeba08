"""Figure 1 (reference part): CPU cost of an SNMP walk, per 1000 varbinds.

Starts net-snmp ``snmpd`` on 127.0.0.1 (free port, generated config, its real MIB-2) and, in
the same run, measures:

  (a) net-snmp ``snmpbulkwalk -v2c -Cr25 -On`` (C), CPU of the child processes;
  (b) a bare pysnmp ``bulk_walk_cmd`` walk with lookupMib=False;
  (c) emspool's ``SnmpClient.walk`` and ``SnmpClient.walk_many``;
  (d) a full NE poll through the agent: ``agent.poller.Poller.poll_once`` with a real
      ``NodalModel`` (GET of the scalars, walk of the interface columns, parsing into our types,
      state, rates and alarm evaluation). "full" cycles also walk names, speeds and LLDP (what
      every 10th cycle does); "fast" cycles are the other nine. Varbinds are counted by
      ``Poller.stats["varbinds"]``;
  (+) the same for SNMPv3 authPriv (SHA-256/AES-128) for (b), (c) and (d).

A poll reads ~10 rows per interface, so how many interfaces the responder has matters: with
``--ifaces N`` (default 48, as a 48-port switch) the whole bench re-runs itself inside a fresh
network namespace where snmpd sees lo plus veth pairs (N interfaces at least, all up); the
namespace is deleted at the end. ``--ifaces 0`` uses the host's own interfaces instead.

Run: .venv/bin/python bench/poll_cost.py [--repeat N] [--root 1.3.6.1.2.1] [--ifaces 48]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.poller import Poller, PollTarget, _NeSchedule
from agent.snmp import Oid, SnmpClient, SnmpTarget, format_oid, parse_oid
from shared.config import PollingConfig
from shared.model import CredentialProfile, Event, NetworkElement, SnmpVersion
from shared.nodal import NodalModel

V3_USER = "benchuser"


@dataclass(frozen=True)
class Bench:
    port: int
    community: str
    auth_key: str
    priv_key: str
    root: Oid

    @property
    def v2c(self) -> CredentialProfile:
        return CredentialProfile(name="bench-v2c", community=self.community)

    @property
    def v3(self) -> CredentialProfile:
        return CredentialProfile(
            name="bench-v3",
            version=SnmpVersion.V3,
            user=V3_USER,
            auth_protocol="sha256",
            auth_key=self.auth_key,
            priv_protocol="aes",
            priv_key=self.priv_key,
        )


def _cpu() -> float:
    """CPU seconds (user + system) of this process plus its reaped children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


async def measure(
    label: str, coro_factory: Callable[[], Awaitable[int]], repeat: int
) -> tuple[int, float]:
    """Run ``coro_factory()`` ``repeat`` times; each returns the varbinds it read.

    Returns (varbinds, cpu_seconds) summed over the runs and prints CPU-s per 1000 varbinds.
    One untimed warm-up run first, so one-off costs (engine creation, v3 discovery, imports)
    are not counted: the figure is the steady-state cost of a poll.
    """
    await coro_factory()
    varbinds = 0
    cpu0, wall0 = _cpu(), time.perf_counter()
    for _ in range(repeat):
        varbinds += await coro_factory()
    cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
    per_k = 1000 * cpu / varbinds if varbinds else float("nan")
    print(
        f"{label:<44} {varbinds:>8} vb  {cpu:7.3f} CPU-s  {wall:7.3f} wall-s  "
        f"{per_k:8.4f} CPU-s/1000 vb",
        flush=True,
    )
    return varbinds, cpu


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_snmpd(
    workdir: Path, port: int, community: str, auth: str, priv: str
) -> subprocess.Popen[bytes]:
    conf = workdir / "snmpd.conf"
    conf.write_text(
        f"agentaddress udp:127.0.0.1:{port}\n"
        f"rocommunity {community} 127.0.0.1\n"
        f"createUser {V3_USER} SHA-256 {auth} AES {priv}\n"
        f"rouser {V3_USER} priv\n"
    )
    conf.chmod(0o600)
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir / "persist"), "MIBS": ""}
    log = (workdir / "snmpd.log").open("wb")
    return subprocess.Popen(
        ["snmpd", "-f", "-Lo", "-I", "-smux", "-C", "-c", str(conf), "-M", "/nonexistent"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_ready(bench: Bench, deadline_s: float = 15.0) -> None:
    client = SnmpClient()
    try:
        target = SnmpTarget("127.0.0.1", bench.port, bench.v2c, timeout=0.3, retries=0)
        end = time.monotonic() + deadline_s
        while True:
            try:
                await client.get(target, [(1, 3, 6, 1, 2, 1, 1, 1, 0)])
                return
            except Exception:
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(0.1)
    finally:
        client.close()


def c_walk_factory(bench: Bench) -> Callable[[], Awaitable[int]]:
    exe = shutil.which("snmpbulkwalk") or "snmpbulkwalk"
    args = [exe, "-v2c", "-c", bench.community, "-Cr25", "-On", "-m", "", "-M", "/nonexistent"]
    args += [f"127.0.0.1:{bench.port}", format_oid(bench.root)]
    env = {**os.environ, "MIBS": ""}

    async def run() -> int:
        # Blocking on purpose: this process sleeps in wait(), so the CPU counted is the child's.
        out = subprocess.run(args, env=env, capture_output=True, check=True).stdout
        return sum(1 for line in out.splitlines() if line.startswith(b"."))

    return run


def pysnmp_walk_factory(bench: Bench, v3: bool) -> Callable[[], Awaitable[int]]:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        UsmUserData,
        bulk_walk_cmd,
        usmAesCfb128Protocol,
        usmHMAC192SHA256AuthProtocol,
    )

    state: dict[str, object] = {}

    async def run() -> int:
        if not state:  # built once, like a poller would
            state["engine"] = SnmpEngine()
            if v3:
                state["auth"] = UsmUserData(
                    V3_USER,
                    bench.auth_key,
                    bench.priv_key,
                    authProtocol=usmHMAC192SHA256AuthProtocol,
                    privProtocol=usmAesCfb128Protocol,
                )
            else:
                state["auth"] = CommunityData(bench.community)
            state["transport"] = await UdpTransportTarget.create(
                ("127.0.0.1", bench.port), timeout=2, retries=1
            )
        n = 0
        async for err, status, _idx, varbinds in bulk_walk_cmd(
            state["engine"],
            state["auth"],
            state["transport"],
            ContextData(),
            0,
            25,
            ObjectType(ObjectIdentity(format_oid(bench.root))),
            lookupMib=False,
            lexicographicMode=False,
        ):
            if err or status:
                raise RuntimeError(f"pysnmp walk failed: {err or status}")
            n += len(varbinds)
        return n

    return run


def agent_poll_factory(
    bench: Bench, profile: CredentialProfile, full: bool, clients: list[SnmpClient]
) -> Callable[[], Awaitable[int]]:
    """One NE poll through a real Poller and NodalModel; returns the varbinds it read.

    ``poll_once`` is called directly (no scheduler task), so the figure is the cost of the
    poll itself. Every cycle is full with lldp_every=1; with a huge lldp_every and cycles
    starting at 1, every cycle is fast.
    """
    lldp_every = 1 if full else 1_000_000
    config = PollingConfig(timeout=2.0, retries=1, lldp_every=lldp_every)
    ne = NetworkElement(name="bench-ne", address="127.0.0.1", port=bench.port, profile=profile.name)
    model = NodalModel("bench-agent")
    model.add_ne(ne.name)
    events: list[Event] = []
    state: dict[str, object] = {}

    async def run() -> int:
        if not state:
            # Built inside the running loop: the client's engine binds to it.
            clients.append(SnmpClient())
            state["poller"] = Poller(clients[-1], model, events.extend, config)
            state["sched"] = _NeSchedule(PollTarget(ne, profile), cycle=0 if full else 1)
        poller = state["poller"]
        sched = state["sched"]
        assert isinstance(poller, Poller) and isinstance(sched, _NeSchedule)
        before = poller.stats["varbinds"]
        await poller.poll_once(sched)
        if poller.stats["failures"]:
            raise RuntimeError(f"poll failed: {model.states[ne.name].last_error}")
        return poller.stats["varbinds"] - before

    return run


def _netns_reexec(ifaces: int) -> int:
    """Run this script again inside a new network namespace whose snmpd has ``ifaces``
    interfaces (lo + veth pairs, all up); delete the namespace afterwards."""
    ns = f"emspool-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        ip = ["ip", "-n", ns, "link"]
        subprocess.run([*ip, "set", "lo", "up"], check=True)
        for k in range(ifaces // 2):  # lo + 2 per pair: at least ``ifaces``
            a, b = f"va{k}", f"vb{k}"
            subprocess.run([*ip, "add", a, "type", "veth", "peer", "name", b], check=True)
            subprocess.run([*ip, "set", a, "up"], check=True)
            subprocess.run([*ip, "set", b, "up"], check=True)
        # argparse keeps the last --ifaces: the inner run uses the namespace's own interfaces.
        cmd = ["ip", "netns", "exec", ns, sys.executable, __file__, *sys.argv[1:], "--ifaces=0"]
        return subprocess.run(cmd).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", default="1.3.6.1.2.1", help="subtree to walk (MIB-2)")
    parser.add_argument(
        "--ifaces",
        type=int,
        default=48,
        help="interfaces snmpd shows (runs in a network namespace); 0: the host's own",
    )
    parser.add_argument("--polls", type=int, default=100, help="NE polls per (d) figure")
    return parser.parse_args()


async def main(opts: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="emspool-bench-"))
    bench = Bench(
        port=_free_udp_port(),
        community=secrets.token_hex(8),
        auth_key=secrets.token_hex(8),
        priv_key=secrets.token_hex(8),
        root=parse_oid(opts.root),
    )
    snmpd = start_snmpd(workdir, bench.port, bench.community, bench.auth_key, bench.priv_key)
    client = SnmpClient(max_repetitions=25)
    clients: list[SnmpClient] = [client]
    try:
        await wait_ready(bench)
        v2c = SnmpTarget("127.0.0.1", bench.port, bench.v2c)
        v3 = SnmpTarget("127.0.0.1", bench.port, bench.v3)
        # Columns for walk_many: the first-level subtrees of the root that hold data.
        first = await client.walk(v2c, bench.root)
        columns = sorted({oid[: len(bench.root) + 1] for oid, _ in first})
        print(
            f"snmpd 127.0.0.1:{bench.port}, root {format_oid(bench.root)}: {len(first)} varbinds"
            f" in {len(columns)} subtrees; repeat={opts.repeat}; CPU = user+sys of this"
            " process + reaped children"
        )

        async def ours_walk(target: SnmpTarget) -> int:
            return len(await client.walk(target, bench.root))

        async def ours_walk_many(target: SnmpTarget) -> int:
            got = await client.walk_many(target, columns)
            return sum(len(rows) for rows in got.values())

        ifaces = len(await client.walk(v2c, (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)))
        print(f"snmpd shows {ifaces} interfaces (ifTable rows)")

        r = opts.repeat
        a = await measure("(a) net-snmp snmpbulkwalk -Cr25 (C)", c_walk_factory(bench), r)
        b = await measure(
            "(b) pysnmp bulk_walk_cmd lookupMib=False", pysnmp_walk_factory(bench, False), r
        )
        c1 = await measure("(c) SnmpClient.walk", lambda: ours_walk(v2c), r)
        c2 = await measure("(c) SnmpClient.walk_many (by subtree)", lambda: ours_walk_many(v2c), r)
        b3 = await measure(
            "(b) pysnmp bulk_walk_cmd, v3 authPriv", pysnmp_walk_factory(bench, True), r
        )
        c3 = await measure("(c) SnmpClient.walk, v3 authPriv", lambda: ours_walk(v3), r)
        p = opts.polls
        d_full = await measure(
            "(d) agent NE poll, full (names+LLDP)",
            agent_poll_factory(bench, bench.v2c, True, clients),
            p,
        )
        d_fast = await measure(
            "(d) agent NE poll, fast (status+counters)",
            agent_poll_factory(bench, bench.v2c, False, clients),
            p,
        )
        d3 = await measure(
            "(d) agent NE poll, full, v3 authPriv",
            agent_poll_factory(bench, bench.v3, True, clients),
            p,
        )

        def per_k(x: tuple[int, float]) -> float:
            return x[1] / x[0]

        print()
        print(f"(c) walk / (b)        = {per_k(c1) / per_k(b):6.2f}")
        print(f"(c) walk_many / (b)   = {per_k(c2) / per_k(b):6.2f}")
        print(f"(c) walk / (a)        = {per_k(c1) / per_k(a):6.1f}")
        print(f"(c) walk_many / (a)   = {per_k(c2) / per_k(a):6.1f}")
        print(f"(c) v3 / (b) v3       = {per_k(c3) / per_k(b3):6.2f}")
        print(f"(d) full / (b)        = {per_k(d_full) / per_k(b):6.2f}   (target <= 1.25)")
        print(f"(d) fast / (b)        = {per_k(d_fast) / per_k(b):6.2f}")
        print(f"(d) full / (a)        = {per_k(d_full) / per_k(a):6.1f}")
        print(f"(d) fast / (a)        = {per_k(d_fast) / per_k(a):6.1f}")
        print(f"(d) v3 / (b) v3       = {per_k(d3) / per_k(b3):6.2f}")
        for label, d in (("full", d_full), ("fast", d_fast)):
            print(
                f"(d) {label}: {d[0] / p:.0f} varbinds and {1000 * d[1] / p:.2f} CPU-ms per NE poll"
            )
    finally:
        for c in clients:
            c.close()
        snmpd.terminate()
        try:
            snmpd.wait(5)
        except subprocess.TimeoutExpired:
            snmpd.kill()
            snmpd.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    options = parse_args()
    if options.ifaces > 0:
        sys.exit(_netns_reexec(options.ifaces))
    asyncio.run(main(options))

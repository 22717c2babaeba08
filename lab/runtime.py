"""A lab's device processes: start them, wait until they answer, watch and stop them.

One job: the lifecycle of the snmpsim process of each SNMP device and of the one NETCONF
simulator, by PID through the state directory (``lab.state``), so another process that
opens the same directory sees and stops the same devices; and what a lab is made of
(devices, profiles, status). The faults are ``lab.fleet.Lab``'s, built on this class.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import subprocess
import time
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from lab import devicefiles, layout, process, snmpio
from lab.netconf import fleet as nc_fleet
from lab.netconf.control import NetconfControl
from lab.state import (
    DEFAULT_BASE,
    DEFAULT_NETCONF_PORT,
    DEFAULT_PORT,
    NETCONF,
    NETCONF_PROFILE,
    SNMP,
    V2C_PROFILE,
    V3_PROFILE,
    DeviceRuntime,
    LabState,
    load,
    locked,
    save,
    write_inventory,
)
from lab.topology import build as build_topology
from shared.errors import LabError, SnmpError
from shared.model import CredentialProfile

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, even when the caller is inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class LabRuntime:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir).resolve()
        # Processes this object started: reaped through Popen, others by PID only.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # ---- creation and lifecycle -------------------------------------------------

    @classmethod
    def create(
        cls,
        state_dir: Path | str,
        count: int = 3,
        topology_kind: str = "ring",
        base_address: str = DEFAULT_BASE,
        port: int = DEFAULT_PORT,
        v3_share: float = 0.5,
        v3_user: str = layout.DEFAULT_V3_USER,
        netconf_share: float = 0.0,
        netconf_port: int = DEFAULT_NETCONF_PORT,
        quirks: Mapping[str, Iterable[str]] | None = None,
    ) -> Self:
        """Write recordings, engine options, NETCONF keys and the inventory; start nothing.

        ``netconf_share`` of the devices (spread evenly, see ``layout.netconf_devices``)
        are NETCONF devices on TCP ``netconf_port`` of their address; the others are SNMP
        devices on UDP ``port``, ``v3_share`` of those over SNMPv3. ``quirks`` maps SNMP
        device names to agent misbehaviours to reproduce (``lab.recording.QUIRKS``).
        """
        lab = cls(Path(state_dir))
        sdir = lab.state_dir
        # snmpsim splits its options file on whitespace.
        if any(ch.isspace() for ch in str(sdir)):
            raise LabError(f"state directory must not contain whitespace: {sdir}")
        if (sdir / "lab.json").exists() and any(s["alive"] for s in lab.status()):
            raise LabError(f"a lab is already running in {sdir}")
        try:
            topo = build_topology(topology_kind, count)
        except ValueError as exc:
            raise LabError(str(exc)) from None
        names = [d.name for d in topo.devices]
        netconf = layout.netconf_devices(names, netconf_share)
        wanted = {name: sorted(set(q)) for name, q in (quirks or {}).items()}
        layout.check_quirks(wanted, names, netconf)
        v3 = layout.v3_devices([n for n in names if n not in netconf], v3_share)
        addrs = layout.addresses(base_address, count)
        if netconf and not 0 < netconf_port < 65536:
            raise LabError(f"NETCONF port {netconf_port} out of range")
        state = LabState(
            topology=topology_kind,
            base_address=base_address,
            port=port,
            community="public-" + secrets.token_hex(6),
            v3_user=v3_user,
            auth_key=secrets.token_hex(16),
            priv_key=secrets.token_hex(16),
            links=list(topo.links),
            netconf_port=netconf_port,
        )
        for plan, addr in zip(topo.devices, addrs, strict=True):
            if plan.name in netconf:
                dev = DeviceRuntime(
                    plan.name, plan.kind, plan.ports, addr, netconf_port, NETCONF_PROFILE, ""
                )
                dev.protocol = NETCONF
            else:
                profile = V3_PROFILE if plan.name in v3 else V2C_PROFILE
                dev = DeviceRuntime(
                    plan.name,
                    plan.kind,
                    plan.ports,
                    addr,
                    port,
                    profile,
                    layout.engine_id(plan.name),
                )
                dev.quirks = wanted.get(plan.name, [])
            state.devices.append(dev)
        with locked(sdir):
            for dev in state.by_protocol(SNMP):
                for sub in ("data", "cache"):
                    (sdir / "devices" / dev.name / sub).mkdir(parents=True, exist_ok=True)
                devicefiles.write_recording(sdir, state, dev)
                devicefiles.write_args(sdir, state, dev)
            if netconf:
                layout.create_netconf(sdir, state, topo, addrs)
            save(sdir, state)
            write_inventory(sdir, state)
        return lab

    @classmethod
    def open(cls, state_dir: Path | str) -> Self:
        lab = cls(Path(state_dir))
        load(lab.state_dir)  # fail early and clearly if there is no lab there
        return lab

    def start(self, timeout: float = 60.0) -> float:
        """Start every device not already running; wait until each answers a GET.

        Returns the seconds it took. Raises LabError (with the device's stderr)
        if one exits or stays silent past ``timeout``.
        """
        t0 = time.monotonic()
        with locked(self.state_dir):
            state = load(self.state_dir)
            started = [d.name for d in state.by_protocol(SNMP) if self._spawn_if_needed(state, d)]
            simulator = self._spawn_netconf_if_needed(state)
            save(self.state_dir, state)
        try:
            # snmpsim processes boot meanwhile: both kinds start in parallel.
            if simulator is not None:
                self._wait_netconf(simulator, timeout)
            _run(self.wait_ready(started, max(1.0, timeout - (time.monotonic() - t0))))
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - t0

    def _spawn_netconf_if_needed(self, state: LabState) -> subprocess.Popen[bytes] | None:
        if not state.by_protocol(NETCONF) or self._netconf_alive(state):
            return None
        proc = nc_fleet.spawn(self.state_dir)
        self._children[proc.pid] = proc
        state.netconf_pid = proc.pid
        for dev in state.by_protocol(NETCONF):
            dev.pid, dev.started_at, dev.suspended = proc.pid, time.time(), False
        return proc

    def _wait_netconf(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        """Until the simulator's control socket answers: it opens it after every listener."""
        nc_fleet.wait_ready(self.state_dir, proc, timeout)
        with locked(self.state_dir):
            state = load(self.state_dir)
            control = NetconfControl(self.state_dir)
            for dev in state.by_protocol(NETCONF):
                dev.started_at = time.time()
                # A fresh simulator knows no faults: cut links stay cut, as on SNMP devices.
                for ifindex in dev.oper_down:
                    control.if_down(dev.name, ifindex)
            save(self.state_dir, state)

    def _spawn_if_needed(self, state: LabState, dev: DeviceRuntime) -> bool:
        if dev.pid is not None and self._alive(dev):
            return False
        # A fresh process boots with sysUpTime 0: old ifLastChange values would be in its future.
        dev.last_change = {}
        devicefiles.write_recording(self.state_dir, state, dev)
        proc = process.spawn(self.state_dir, dev)
        self._children[proc.pid] = proc
        dev.pid, dev.started_at, dev.suspended = proc.pid, time.time(), False
        return True

    def stop(self, timeout: float = 3.0) -> None:
        """End every device process this lab recorded (by PID), SIGKILL after ``timeout``."""
        with locked(self.state_dir):
            state = load(self.state_dir)
            for dev in state.by_protocol(SNMP):
                if dev.pid is not None:
                    self._terminate(dev, timeout)
            if state.netconf_pid is not None:
                proc = self._children.pop(state.netconf_pid, None)
                # It closes its SSH sessions on SIGTERM: give it a little longer.
                process.terminate(
                    state.netconf_pid, self.state_dir, process.NETCONF_SIM, proc, timeout + 2.0
                )
                state.netconf_pid = None
            for dev in state.devices:
                dev.pid, dev.started_at, dev.suspended = None, None, False
            save(self.state_dir, state)
        for pid, proc in list(self._children.items()):
            # Also reap children whose PID another process already cleared from lab.json.
            if proc.poll() is None:
                process.terminate(pid, self.state_dir, "", proc, timeout)
            self._children.pop(pid, None)

    def _terminate(self, dev: DeviceRuntime, timeout: float) -> None:
        assert dev.pid is not None
        proc = self._children.pop(dev.pid, None)
        process.terminate(dev.pid, self.state_dir, dev.name, proc, timeout)

    def _alive(self, dev: DeviceRuntime) -> bool:
        if dev.pid is None:
            return False
        proc = self._children.get(dev.pid)
        if proc is not None:
            return proc.poll() is None
        owner = process.NETCONF_SIM if dev.protocol == NETCONF else dev.name
        return process.is_ours(dev.pid, self.state_dir, owner)

    def _netconf_alive(self, state: LabState) -> bool:
        pid = state.netconf_pid
        if pid is None:
            return False
        proc = self._children.get(pid)
        if proc is not None:
            return proc.poll() is None
        return process.is_ours(pid, self.state_dir, process.NETCONF_SIM)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def wait_ready(self, names: list[str], timeout: float = 60.0) -> None:
        """Wait until each named SNMP device answers a real GET of sysUpTime.

        Also records each device's boot time as the device itself counts it, so
        ifLastChange and trap sysUpTime values agree with its sysUpTime.
        """
        state = load(self.state_dir)
        for name in names:
            if state.device(name).protocol != SNMP:
                raise LabError(f"{name} is not an SNMP device")
        if not names:
            return
        profiles = state.profiles()
        deadline = time.monotonic() + timeout
        async with snmpio.Session() as session:
            boots = await asyncio.gather(
                *(self._probe(session, state.device(n), profiles, deadline) for n in names)
            )
        with locked(self.state_dir):
            state = load(self.state_dir)
            for name, booted in zip(names, boots, strict=True):
                state.device(name).started_at = booted
            save(self.state_dir, state)

    async def _probe(
        self,
        session: snmpio.Session,
        dev: DeviceRuntime,
        profiles: dict[str, CredentialProfile],
        deadline: float,
    ) -> float:
        last = "no answer"
        while time.monotonic() < deadline:
            if not self._alive(dev):
                raise LabError(
                    f"{dev.name} (pid {dev.pid}) exited during start-up:\n"
                    + process.log_tail(self.state_dir, dev.name)
                )
            try:
                got = await session.get(
                    dev.address, dev.port, profiles[dev.profile], [snmpio.SYS_UPTIME], 0.5
                )
                return time.time() - int(got[snmpio.SYS_UPTIME]) / 100.0
            except SnmpError as exc:
                last = str(exc)
            await asyncio.sleep(0.1)
        raise LabError(
            f"{dev.name} at {dev.address}:{dev.port} not ready ({last}):\n"
            + process.log_tail(self.state_dir, dev.name)
        )

    # ---- what tests and the agent need to know -------------------------------------

    @property
    def state(self) -> LabState:
        """A fresh snapshot from disk (another process may have changed it)."""
        return load(self.state_dir)

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.json"

    @property
    def known_hosts_path(self) -> Path:
        """OpenSSH known_hosts lines (``[address]:port key``) of the NETCONF devices."""
        return self.state_dir / nc_fleet.KNOWN_HOSTS_FILE

    @property
    def devices(self) -> list[DeviceRuntime]:
        """Devices in creation order (a fresh snapshot: PIDs change on restart)."""
        return self.state.devices

    def device(self, name: str) -> DeviceRuntime:
        return self.state.device(name)

    def profile_for(self, name: str) -> CredentialProfile:
        state = self.state
        return state.profiles()[state.device(name).profile]

    def profiles(self) -> dict[str, CredentialProfile]:
        return self.state.profiles()

    def status(self) -> list[dict[str, object]]:
        """Per device: protocol, PID, liveness, injected faults.

        ``alive``: its process runs; ``answering``: alive and not made unreachable.
        NETCONF devices add the simulator's view (sessions, alarms, delay_ms) when
        it answers.
        """
        state = self.state
        live = self._simulator_status(state)
        out: list[dict[str, object]] = []
        for d in state.devices:
            alive = self._alive(d)
            entry: dict[str, object] = {
                "name": d.name,
                "protocol": d.protocol,
                "kind": d.kind,
                "address": d.address,
                "port": d.port,
                "profile": d.profile,
                "pid": d.pid,
                "alive": alive,
                "answering": alive and not d.suspended,
                "suspended": d.suspended,
                "oper_down": sorted(d.oper_down),
            }
            sim = live.get(d.name)
            if sim is not None:
                entry |= {k: sim[k] for k in ("sessions", "alarms", "delay_ms") if k in sim}
            out.append(entry)
        return out

    def _simulator_status(self, state: LabState) -> dict[str, dict[str, object]]:
        if not self._netconf_alive(state):
            return {}
        try:
            rows = NetconfControl(self.state_dir, timeout=2.0).status()
        except LabError:
            return {}  # busy or hung: liveness from the PID is still right
        return {str(r.get("name")): r for r in rows}

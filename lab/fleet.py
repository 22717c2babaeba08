"""The lab: N simulated devices on loopback, with faults you can inject from anywhere.

    with Lab.create(tmp_path, count=4, topology_kind="ring", base_address="127.0.42.0",
                    port=free_udp_port, netconf_share=0.5, netconf_port=free_tcp_port) as lab:
        lab.if_down("rtr001", 1)
        lab.send_trap("rtr001", "linkDown", ("127.0.0.1", 16200), ifindex=1)
        lab.raise_alarm("rtr002", "lab:fan-failure", "fan1", "critical", "Fan 1 failed")

SNMP devices are one snmpsim process each; NETCONF devices (``netconf_share`` of
them) all live in one ``lab.netconf`` simulator process, each on its own
loopback address. Both kinds share one topology, so LLDP agrees across them.
All state lives in the state directory (see ``lab.state``), so ``Lab.open(dir)``
in another process (the ``lab fault`` CLI) acts on the same devices.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import ipaddress
import secrets
import signal
import subprocess
import time
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from lab import devicefiles, process, recording, snmpio
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
from lab.topology import Topology
from lab.topology import build as build_topology
from shared.errors import LabError, SnmpError
from shared.model import CredentialProfile

T = TypeVar("T")

DEFAULT_V3_USER = "emsv3"
# IANA example enterprise 32473 with the RFC 3411 high bit, format 5 (octets).
ENGINE_ID_PREFIX = "80007ed905"


def engine_id(name: str) -> str:
    """Deterministic, distinct per device name: a restart keeps its identity."""
    return ENGINE_ID_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:16]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, even when the caller is inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _addresses(base_address: str, count: int) -> list[str]:
    try:
        base = ipaddress.IPv4Address(base_address)
    except ValueError as exc:
        raise LabError(f"bad base address {base_address!r}: {exc}") from None
    if base not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise LabError(f"base address {base} is not on loopback (127.0.0.0/8)")
    net = ipaddress.IPv4Network(f"{base}/24", strict=False)
    addrs = [base + k + 1 for k in range(count)]
    if count > 0 and (addrs[-1] not in net or addrs[-1] == net.broadcast_address):
        raise LabError(f"{count} devices do not fit in {net} from {base}")
    return [str(a) for a in addrs]


def _spread(names: list[str], share: float, what: str) -> set[str]:
    """Pick ``share`` of ``names`` evenly in order: with 0.5, the 2nd, 4th, 6th..."""
    if not 0.0 <= share <= 1.0:
        raise LabError(f"{what} share must be within 0..1, not {share}")
    return {n for i, n in enumerate(names) if int((i + 1) * share) > int(i * share)}


def _v3_devices(names: list[str], share: float) -> set[str]:
    return _spread(names, share, "v3")


def _netconf_devices(names: list[str], share: float) -> set[str]:
    """Every k-th device; at least one when asked for any and there are two or more."""
    chosen = _spread(names, share, "NETCONF")
    if share > 0 and not chosen and len(names) >= 2:
        chosen = {names[-1]}
    return chosen


class Lab:
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
        v3_user: str = DEFAULT_V3_USER,
        netconf_share: float = 0.0,
        netconf_port: int = DEFAULT_NETCONF_PORT,
        quirks: Mapping[str, Iterable[str]] | None = None,
    ) -> Lab:
        """Write recordings, engine options, NETCONF keys and the inventory; start nothing.

        ``netconf_share`` of the devices (spread evenly, see ``_netconf_devices``) are
        NETCONF devices on TCP ``netconf_port`` of their address; the others are SNMP
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
        netconf = _netconf_devices(names, netconf_share)
        wanted = {name: sorted(set(q)) for name, q in (quirks or {}).items()}
        _check_quirks(wanted, names, netconf)
        v3 = _v3_devices([n for n in names if n not in netconf], v3_share)
        addrs = _addresses(base_address, count)
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
                    plan.name, plan.kind, plan.ports, addr, port, profile, engine_id(plan.name)
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
                _create_netconf(sdir, state, topo, addrs)
            save(sdir, state)
            write_inventory(sdir, state)
        return lab

    @classmethod
    def open(cls, state_dir: Path | str) -> Lab:
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

    # ---- faults (either protocol) ------------------------------------------------------

    def if_down(self, name: str, ifindex: int) -> None:
        """Cable cut on a port: ifOperStatus 2 and a new ifLastChange on the next poll;
        on a NETCONF device oper-status down, a lab:link-down alarm and notifications.

        Ports without a link are admin and oper down already and stay so on if_up.
        """
        self._set_oper(name, ifindex, up=False)

    def if_up(self, name: str, ifindex: int) -> None:
        self._set_oper(name, ifindex, up=True)

    def _set_oper(self, name: str, ifindex: int, up: bool) -> None:
        with locked(self.state_dir):
            state = load(self.state_dir)
            dev = state.device(name)
            if not 1 <= ifindex <= dev.ports:
                raise LabError(f"{name} has no ifIndex {ifindex} (1..{dev.ports})")
            if dev.protocol == NETCONF:
                control = self._control(state)
                (control.if_up if up else control.if_down)(name, ifindex)
            down = set(dev.oper_down)
            if up:
                down.discard(ifindex)
            else:
                down.add(ifindex)
            dev.oper_down = sorted(down)
            if dev.protocol == SNMP:
                dev.last_change[str(ifindex)] = _uptime_ticks(dev)
                devicefiles.write_recording(self.state_dir, state, dev)
            save(self.state_dir, state)

    def unreachable(self, name: str) -> None:
        """Answer nothing, sockets kept: SIGSTOP for SNMP, the simulator's hang for NETCONF
        (open sessions get no replies, new connections no SSH banner)."""
        self._suspend(name, True)

    def reachable(self, name: str) -> None:
        self._suspend(name, False)

    def _suspend(self, name: str, stop: bool) -> None:
        with locked(self.state_dir):
            state = load(self.state_dir)
            dev = state.device(name)
            if dev.protocol == NETCONF:
                control = self._control(state)
                (control.hang if stop else control.resume)(name)
            else:
                if dev.pid is None or not self._alive(dev):
                    raise LabError(f"{name} is not running")
                process.signal_device(dev.pid, signal.SIGSTOP if stop else signal.SIGCONT)
            dev.suspended = stop
            save(self.state_dir, state)

    def restart(
        self, name: str, trap_target: tuple[str, int] | None = None, timeout: float = 30.0
    ) -> None:
        """Restart the device: sysUpTime (SNMP) or boot-datetime (NETCONF) starts again.

        SNMP: a new process; with ``trap_target`` it announces itself with a coldStart
        trap. NETCONF: the simulator drops the device's sessions, reboots its model
        and undoes hang and slow (cut links and alarms stay), or starts the
        simulator if it is not running.
        """
        with locked(self.state_dir):
            state = load(self.state_dir)
            dev = state.device(name)
            if dev.protocol == NETCONF:
                if trap_target is not None:
                    raise LabError(f"{name} is a NETCONF device: it sends no traps")
                simulator = self._restart_netconf(state, dev)
                save(self.state_dir, state)
            else:
                simulator = None
                if dev.pid is not None:
                    self._terminate(dev, 3.0)
                    dev.pid = None
                self._spawn_if_needed(state, dev)
                save(self.state_dir, state)
        if simulator is not None:
            self._wait_netconf(simulator, timeout)  # on failure, stop() still ends it
        if dev.protocol == SNMP:
            _run(self.wait_ready([name], timeout))
        if trap_target is not None:
            self.send_trap(name, "coldStart", trap_target)

    def _restart_netconf(
        self, state: LabState, dev: DeviceRuntime
    ) -> subprocess.Popen[bytes] | None:
        if self._netconf_alive(state):
            self._control(state).restart(dev.name)
            dev.started_at, dev.suspended = time.time(), False
            return None
        return self._spawn_netconf_if_needed(state)

    # ---- NETCONF-only faults ---------------------------------------------------------

    def raise_alarm(
        self,
        name: str,
        type_id: str,
        resource: str,
        severity: str = "major",
        text: str = "",
        qualifier: str = "",
    ) -> None:
        """An ietf-alarms entry (``type_id`` an identity, e.g. ``lab:fan-failure``) and its
        alarm-notification; raising it again updates severity and text."""
        self._netconf_call(name, "raise_alarm").raise_alarm(
            name, type_id, resource, severity, text, qualifier
        )

    def clear_alarm(self, name: str, type_id: str, resource: str, qualifier: str = "") -> None:
        self._netconf_call(name, "clear_alarm").clear_alarm(name, type_id, resource, qualifier)

    def drop_sessions(self, name: str) -> None:
        """Close every NETCONF session and SSH connection of the device (it stays up)."""
        self._netconf_call(name, "drop_sessions").drop_sessions(name)

    def slow(self, name: str, ms: float) -> None:
        """Add ``ms`` to every reply of the device (0 undoes it)."""
        self._netconf_call(name, "slow").slow(name, ms)

    def _netconf_call(self, name: str, fault: str) -> NetconfControl:
        state = self.state
        if state.device(name).protocol != NETCONF:
            raise LabError(f"{name} is an SNMP device: {fault} is for NETCONF devices only")
        return self._control(state)

    def _control(self, state: LabState) -> NetconfControl:
        if not self._netconf_alive(state):
            raise LabError("the NETCONF simulator of this lab is not running")
        return NetconfControl(self.state_dir)

    # ---- traps (SNMP devices) --------------------------------------------------------

    async def send_trap_async(
        self,
        name: str,
        kind: str,
        target: tuple[str, int],
        ifindex: int | None = None,
        version: str | None = None,
    ) -> None:
        """Send linkDown/linkUp/coldStart from the device's address.

        ``version`` "2c" or "3" picks the lab profile; None uses the device's own.
        NETCONF devices send notifications on their sessions, not traps: LabError.
        """
        state = self.state
        dev = state.device(name)
        if dev.protocol != SNMP:
            raise LabError(f"{name} is a NETCONF device: it sends notifications, not traps")
        profiles = state.profiles()
        if version is None:
            profile = profiles[dev.profile]
        elif version in ("2c", "3"):
            profile = profiles[V2C_PROFILE if version == "2c" else V3_PROFILE]
        else:
            raise LabError(f"trap version must be 2c or 3, not {version!r}")
        oper_up = kind != "linkDown"
        spec = snmpio.TrapSpec(kind, ifindex, admin_up=True, oper_up=oper_up)
        await snmpio.send_trap(
            dev.address, dev.engine_id, profile, target, spec, _uptime_ticks(dev), _clock(dev)
        )

    def send_trap(
        self,
        name: str,
        kind: str,
        target: tuple[str, int],
        ifindex: int | None = None,
        version: str | None = None,
    ) -> None:
        if self.device(name).protocol != SNMP:  # say so before starting an event loop
            raise LabError(f"{name} is a NETCONF device: it sends notifications, not traps")
        _run(self.send_trap_async(name, kind, target, ifindex, version))


def _check_quirks(quirks: dict[str, list[str]], names: list[str], netconf: set[str]) -> None:
    for name, wanted in quirks.items():
        if name not in names:
            raise LabError(f"quirks for {name!r}: no such device in this lab")
        if name in netconf:
            raise LabError(f"quirks for {name!r}: it is a NETCONF device (quirks are SNMP)")
        unknown = set(wanted) - recording.QUIRKS.keys()
        if unknown:
            raise LabError(
                f"quirks for {name!r}: unknown {sorted(unknown)} "
                f"(known: {', '.join(recording.QUIRKS)})"
            )


def _create_netconf(sdir: Path, state: LabState, topo: Topology, addrs: list[str]) -> None:
    """Keys, password and simulator spec of the NETCONF devices; fills ``state`` in."""
    names = {d.name for d in state.by_protocol(NETCONF)}
    specs = nc_fleet.specs_from_topology(topo, addrs, state.netconf_port, names)
    fragment = nc_fleet.create(sdir, specs)
    profile = fragment["profiles"][0]
    state.netconf_user = str(profile["user"])
    state.netconf_password = str(profile["password"])
    state.netconf_key_file = str(profile["key_file"])
    keys = {str(d["name"]): str(d["host_key"]) for d in fragment["devices"]}
    for dev in state.by_protocol(NETCONF):
        dev.host_key = keys[dev.name]


def _clock(dev: DeviceRuntime) -> tuple[int, float]:
    """The device's SNMP engine clock for its traps: boots grow with each (re)start of its
    process, time counts from it."""
    started = dev.started_at or time.time()
    return max(1, int(started) - 1_577_836_800), started


def _uptime_ticks(dev: DeviceRuntime) -> int:
    if dev.started_at is None:
        return 0
    return max(0, int((time.time() - dev.started_at) * 100))


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process, for the lab's own measurements."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None

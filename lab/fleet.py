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

This module holds the faults and traps; creating a lab's files is ``lab.layout``, its
processes' lifecycle ``lab.runtime``.
"""

from __future__ import annotations

import signal
import subprocess
import time

from lab import devicefiles, process, snmpio
from lab.layout import DEFAULT_V3_USER as DEFAULT_V3_USER
from lab.layout import ENGINE_ID_PREFIX as ENGINE_ID_PREFIX
from lab.layout import engine_id as engine_id
from lab.netconf.control import NetconfControl
from lab.runtime import LabRuntime, _run
from lab.state import (
    NETCONF,
    SNMP,
    V2C_PROFILE,
    V3_PROFILE,
    DeviceRuntime,
    LabState,
    load,
    locked,
    save,
)
from shared.errors import LabError


class Lab(LabRuntime):
    """A lab and the faults and traps of its devices (creation and lifecycle: LabRuntime)."""

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


def _clock(dev: DeviceRuntime) -> tuple[int, float]:
    """The device's SNMP engine clock for its traps: boots grow with each (re)start of its
    process, time counts from it."""
    started = dev.started_at or time.time()
    return max(1, int(started) - 1_577_836_800), started


def _uptime_ticks(dev: DeviceRuntime) -> int:
    if dev.started_at is None:
        return 0
    return max(0, int((time.time() - dev.started_at) * 100))

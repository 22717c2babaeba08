"""What one agent knows about its NEs: live state plus nodal alarms, driven by poll
results and notifications. Pure: callers pass ``now`` and get event-log rows back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import mib
from .alarms import Alarm, AlarmStore, Transition
from .model import (
    AlarmKey,
    AlarmType,
    Event,
    EventType,
    InterfaceState,
    LinkAlarms,
    Neighbour,
    NeState,
    NetworkElement,
    OperStatus,
    Severity,
    status_of,
)


@dataclass(slots=True)
class PollResult:
    """One successful poll, in our types (the SNMP or NETCONF adapter fills it)."""

    ne: str
    time: float
    sys_uptime: int | None
    interfaces: dict[int, InterfaceState]  # each says its counters' width (counter_bits)
    sys_name: str | None = None  # None: not polled this cycle
    sys_descr: str | None = None
    neighbours: list[Neighbour] | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    unreachable_after: int = 1  # failed polls (each already retried) before the alarm
    unreachable_severity: Severity = Severity.CRITICAL
    link_down_severity: Severity = Severity.MAJOR
    restart_severity: Severity = Severity.WARNING
    restart_hold: float = 300.0  # a restart alarm clears itself after this long
    # True: also alarm admin-up ports never seen up since the NE was managed (ports that
    # were never connected); by default they stay quiet until they have been up once.
    alarm_never_up_ports: bool = False


# Which reported states are a failure worth an alarm, by mode (see LinkAlarms).
_LINK_DOWN_STATES = {
    LinkAlarms.DEFAULT: frozenset({OperStatus.DOWN, OperStatus.LOWER_LAYER_DOWN}),
    LinkAlarms.MONITOR: frozenset(
        {OperStatus.DOWN, OperStatus.LOWER_LAYER_DOWN, OperStatus.NOT_PRESENT}
    ),
    LinkAlarms.IGNORE: frozenset(),
}


class NodalModel:
    def __init__(self, agent: str, policy: Policy | None = None) -> None:
        self.agent = agent
        self.policy = policy or Policy()
        self.alarms = AlarmStore()
        self.states: dict[str, NeState] = {}
        self._elements: dict[str, NetworkElement] = {}

    # -- membership: the NEs this agent manages change at run time -----------------
    def add_ne(self, name: str, element: NetworkElement | None = None) -> None:
        """Manage an NE (again); ``element`` carries its inventory settings (alarm policy)."""
        self.states.setdefault(name, NeState(name=name))
        if element is not None:
            self._elements[name] = element

    def remove_ne(self, name: str, now: float = 0.0, reason: str | None = None) -> list[Event]:
        """Stop managing an NE. With a ``reason`` it leaves management for good (removed,
        unmanaged) and its standing alarms are closed; without one it moves elsewhere and
        its alarms are only forgotten here (the new owner rebuilds them)."""
        out = self.alarms.close_ne(name, now, reason) if reason is not None else []
        self.states.pop(name, None)
        self._elements.pop(name, None)
        self.alarms.drop_ne(name)
        return self._events(out, now)

    def link_alarm_wanted(self, ne: str, st: NeState, i: InterfaceState) -> bool:
        """Whether this interface, as reported, should have a link-down alarm (the one
        policy every path uses: SNMP polls and traps, NETCONF polls and notifications)."""
        if not i.admin_up:
            return False
        element = self._elements.get(ne)
        mode = element.link_alarms_for(i.index, i.name) if element else LinkAlarms.DEFAULT
        if status_of(i) not in _LINK_DOWN_STATES[mode]:
            return False
        if mode is LinkAlarms.MONITOR or self.policy.alarm_never_up_ports:
            return True
        return i.index in st.ever_up

    def restore(self, alarms: Sequence[Alarm]) -> None:
        """Standing alarms rebuilt from the event log (a restart or a takeover). A port with
        a restored link-down alarm was up before it went down: it counts as seen up."""
        self.alarms.restore(alarms)
        for a in alarms:
            st = self.states.get(a.key.ne)
            if st is not None and a.key.type == AlarmType.LINK_DOWN:
                idx = a.key.obj.removeprefix("ifIndex=")
                if idx.isdigit():
                    st.ever_up.add(int(idx))

    def link_change(
        self, ne: str, idx: int | None, up: bool, now: float, label: str = ""
    ) -> list[Event]:
        """An explicit link-down/link-up (SNMP trap, NETCONF notification) for one port."""
        st = self.states.get(ne)
        if st is None or idx is None:
            return []
        key = AlarmKey(ne, f"ifIndex={idx}", AlarmType.LINK_DOWN)
        iface = st.interfaces.get(idx)
        # A link that goes down was up before it went: it counts as seen up.
        st.ever_up.add(idx)
        st.revision += 1
        if iface is not None:
            iface.oper_up = up
            iface.oper_status = OperStatus.UP if up else OperStatus.DOWN
            label = iface.name or label
        if up:
            t = self.alarms.clear(key, now)
        elif iface is not None and not self.link_alarm_wanted(ne, st, iface):
            t = None  # admin-down or ignored port
        elif iface is None and self._mode(ne, idx, label) is LinkAlarms.IGNORE:
            t = None
        else:
            t = self.alarms.raise_(
                key, self.policy.link_down_severity, _link_down_text(label or str(idx)), now
            )
        return self._events([t] if t else [], now)

    def _mode(self, ne: str, idx: int, name: str) -> LinkAlarms:
        element = self._elements.get(ne)
        return element.link_alarms_for(idx, name) if element else LinkAlarms.DEFAULT

    # -- inputs ---------------------------------------------------------------------
    def poll_ok(self, r: PollResult) -> list[Event]:
        st = self.states.get(r.ne)
        if st is None:
            return []  # the NE left this agent while the poll was in flight
        p = self.policy
        out: list[Transition] = []
        t = self.alarms.clear(AlarmKey(r.ne, "", AlarmType.NE_UNREACHABLE), r.time)
        if t is not None:
            out.append(t)
        if r.sys_uptime is not None and st.sys_uptime is not None and r.sys_uptime < st.sys_uptime:
            t = self._restart(r.ne, r.time, "sysUpTime went back")
            if t is not None:
                out.append(t)
        self._update_rates(st, r)
        st.interfaces = r.interfaces
        st.sys_uptime = r.sys_uptime if r.sys_uptime is not None else st.sys_uptime
        if r.sys_name is not None:
            st.sys_name = r.sys_name
        if r.sys_descr is not None:
            st.sys_descr = r.sys_descr
        if r.neighbours is not None:
            st.neighbours = r.neighbours
        st.reachable = True
        st.last_poll = r.time
        st.last_error = None
        st.consecutive_failures = 0
        st.polls += 1
        st.revision += 1
        st.ever_up.update(i.index for i in r.interfaces.values() if status_of(i) is OperStatus.UP)
        wanted = {
            f"ifIndex={i.index}": (
                p.link_down_severity,
                _link_down_text(i.name or str(i.index)),
            )
            for i in r.interfaces.values()
            if self.link_alarm_wanted(r.ne, st, i)
        }
        out += self.alarms.reconcile(r.ne, AlarmType.LINK_DOWN, wanted, r.time)
        return self._events(out, r.time)

    def poll_failed(self, ne: str, now: float, error: str) -> list[Event]:
        st = self.states.get(ne)
        if st is None:
            return []
        st.consecutive_failures += 1
        st.revision += 1
        st.last_error = error
        st.last_poll = now
        if st.consecutive_failures < self.policy.unreachable_after:
            return []
        st.reachable = False
        t = self.alarms.raise_(
            AlarmKey(ne, "", AlarmType.NE_UNREACHABLE),
            self.policy.unreachable_severity,
            f"NE not answering: {error}",
            now,
        )
        return self._events([t] if t else [], now)

    def notification(
        self, ne: str, trap_oid: mib.Oid, varbinds: Sequence[mib.Row], now: float
    ) -> list[Event]:
        st = self.states.get(ne)
        if st is None:
            return []
        if trap_oid in (mib.TRAP_LINK_DOWN, mib.TRAP_LINK_UP):
            idx = _if_index(varbinds)
            if idx is not None:
                return self.link_change(ne, idx, trap_oid == mib.TRAP_LINK_UP, now)
        if trap_oid in (mib.TRAP_COLD_START, mib.TRAP_WARM_START):
            kind = "coldStart" if trap_oid == mib.TRAP_COLD_START else "warmStart"
            t = self._restart(ne, now, f"{kind} notification")
            return self._events([t] if t else [], now)
        # Anything we do not model is kept as an event so nothing is silently lost.
        detail = ", ".join(f"{mib.dotted(o)}={mib.text(v)[:64]}" for o, v in varbinds[:8])
        ev = Event(
            time=now,
            ne=ne,
            type=EventType.TRAP,
            severity=Severity.INDETERMINATE,
            text=f"trap {mib.dotted(trap_oid)}" + (f": {detail}" if detail else ""),
            agent=self.agent,
        )
        return [ev]

    def ack(self, key: AlarmKey, user: str, now: float, undo: bool = False) -> list[Event]:
        t = self.alarms.unack(key, user, now) if undo else self.alarms.ack(key, user, now)
        return self._events([t] if t else [], now)

    def note(self, key: AlarmKey, user: str, text: str, now: float) -> list[Event]:
        t = self.alarms.note(key, user, text, now)
        return self._events([t] if t else [], now)

    def tick(self, now: float) -> list[Event]:
        return self._events(self.alarms.expire(now), now)

    # -- helpers --------------------------------------------------------------------
    def _restart(self, ne: str, now: float, why: str) -> Transition | None:
        key = AlarmKey(ne, "", AlarmType.DEVICE_RESTART)
        standing = self.alarms.get(key)
        # Keep the first evidence's wording: a coldStart after an uptime drop is the
        # same restart and must deduplicate, not show as a changed alarm.
        text = standing.text if standing and standing.active else f"Device restarted ({why})"
        return self.alarms.raise_(
            key, self.policy.restart_severity, text, now, auto_clear_after=self.policy.restart_hold
        )

    def _update_rates(self, st: NeState, r: PollResult) -> None:
        if st.last_poll is None or not st.reachable:
            return
        if r.sys_uptime is not None and st.sys_uptime is not None and r.sys_uptime < st.sys_uptime:
            return  # the agent restarted: its counters did too
        dt = r.time - st.last_poll
        for idx, new in r.interfaces.items():
            old = st.interfaces.get(idx)
            if old is not None:
                new.in_bps, new.out_bps = mib.interface_rates(old, new, dt)

    def _events(self, transitions: Sequence[Transition], now: float) -> list[Event]:
        return [t.to_event(self.agent, now) for t in transitions]


def _link_down_text(label: str) -> str:
    # Trap and poll must say the same words, or their alarm would flip-flop as "changed".
    return f"Interface {label} is down (admin up)"


def _if_index(varbinds: Sequence[mib.Row]) -> int | None:
    n = len(mib.IF_INDEX)
    for o, v in varbinds:
        if o[:n] == mib.IF_INDEX and isinstance(v, int):
            return v
    # Some devices send only ifAdminStatus/ifOperStatus: the index is the OID suffix.
    for o, _ in varbinds:
        if o[: len(mib.IF_ENTRY)] == mib.IF_ENTRY and len(o) == len(mib.IF_ENTRY) + 2:
            return o[-1]
    return None

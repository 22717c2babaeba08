"""NETCONF inputs to the nodal model: the device's own alarm list (RFC 8632), its
notifications (link up/down, config changes) and host-key trouble. Pure functions over a
NodalModel (no I/O, callers pass ``now``); they sit beside nodal.py rather than inside it
so the two evolve apart.

Keys: an NE-reported alarm on an interface is keyed ``ifIndex=N`` like the alarms
emspool derives itself, so a device's link-down alarm and the oper-status derived one
are one alarm, not two.
"""

from __future__ import annotations

from collections.abc import Sequence

from .alarms import Transition
from .model import AlarmKey, AlarmType, Event, EventType, Severity
from .nodal import NodalModel
from .yang import AlarmNotification, ConfigChange, DeviceAlarm, InterfaceChange, Notification

HOST_KEY_MISMATCH = "host-key-mismatch"
# Event type of an RFC 6470 netconf-config-change: informational, never an alarm.
CONFIG_CHANGE = "config-change"
_EDITS_SHOWN = 5

# Types emspool raises from its own observations: the device's alarm list must never
# clear them just because the device does not list them.
AGENT_OWNED = frozenset(
    {AlarmType.NE_UNREACHABLE, AlarmType.DEVICE_RESTART, AlarmType.LINK_DOWN, HOST_KEY_MISMATCH}
)


def _link_down_text(label: str) -> str:
    # Same words as nodal.py's poll-derived alarm, or the alarm would flip as "changed".
    return f"Interface {label} is down (admin up)"


def _obj(model: NodalModel, ne: str, resource: str) -> str:
    st = model.states.get(ne)
    if st is not None:
        for idx, itf in st.interfaces.items():
            if itf.name == resource:
                return f"ifIndex={idx}"
    return resource


def _want(model: NodalModel, ne: str, a: DeviceAlarm) -> tuple[AlarmKey, Severity, str]:
    key = AlarmKey(ne, _obj(model, ne, a.resource), a.type_key)
    text = a.text or f"{a.alarm_type} on {a.resource}"
    if a.type_key == AlarmType.LINK_DOWN:
        text = _link_down_text(a.resource)
    return key, a.severity, text


def device_alarms(
    model: NodalModel, ne: str, alarms: Sequence[DeviceAlarm], now: float
) -> list[Event]:
    """Make the NE's device-reported alarms exactly its current alarm list.

    New entries are raised, is-cleared entries and entries that vanished are cleared.
    Agent-owned types (unreachable, restart, link-down from oper-status) are only
    raised or cleared by explicit entries, never cleared by absence.
    """
    if ne not in model.states:
        return []
    out: list[Transition] = []
    listed: set[AlarmKey] = set()
    for a in alarms:
        key, sev, text = _want(model, ne, a)
        listed.add(key)
        t = (
            model.alarms.clear(key, now)
            if a.is_cleared
            else model.alarms.raise_(key, sev, text, now)
        )
        if t is not None:
            out.append(t)
    for alarm in model.alarms.active(ne):
        if alarm.key.type not in AGENT_OWNED and alarm.key not in listed:
            t = model.alarms.clear(alarm.key, now)
            if t is not None:
                out.append(t)
    return [t.to_event(model.agent, now) for t in out]


def device_notification(model: NodalModel, ne: str, n: Notification, now: float) -> list[Event]:
    """One parsed RFC 5277 notification -> alarm transitions (or an informational event)."""
    st = model.states.get(ne)
    if st is None:
        return []
    if isinstance(n, AlarmNotification):
        key, sev, text = _want(model, ne, n.alarm)
        t = (
            model.alarms.clear(key, now)
            if n.alarm.is_cleared
            else model.alarms.raise_(key, sev, text, now)
        )
        return [t.to_event(model.agent, now)] if t else []
    if isinstance(n, InterfaceChange):
        return _interface_change(model, ne, n, now)
    if isinstance(n, ConfigChange):
        text = config_change_text(n)
        return [_info(model, ne, CONFIG_CHANGE, text, now)]
    return [_info(model, ne, EventType.TRAP, f"NETCONF notification {n.tag}", now)]


def _info(model: NodalModel, ne: str, type_: str, text: str, now: float) -> Event:
    return Event(
        time=now, ne=ne, type=type_, severity=Severity.INDETERMINATE, text=text, agent=model.agent
    )


def _interface_change(model: NodalModel, ne: str, n: InterfaceChange, now: float) -> list[Event]:
    """Onto the alarm the poll raises: the port found by if-index, else by name (devices
    without if-index are polled under yang.stable_index of the name)."""
    st = model.states[ne]
    idx = n.if_index
    if (idx is None or idx not in st.interfaces) and n.name:
        idx = next((i for i, itf in st.interfaces.items() if itf.name == n.name), idx)
    itf = st.interfaces.get(idx) if idx is not None else None
    if itf is not None and n.admin_up is not None:
        # An admin shutdown announces itself as linkDown with ifAdminStatus down: not a
        # fault, and the last poll's admin state is older than this news.
        itf.admin_up = n.admin_up
    if idx is None:
        # A named port the polls have not shown yet: keyed by name until they do.
        name = n.name or "?"
        key = AlarmKey(ne, name, AlarmType.LINK_DOWN)
        t = (
            model.alarms.clear(key, now)
            if n.oper_up
            else model.alarms.raise_(
                key, model.policy.link_down_severity, _link_down_text(name), now
            )
        )
        return [t.to_event(model.agent, now)] if t else []
    return model.link_change(ne, idx, n.oper_up, now, label=n.name or str(idx))


def config_change_text(n: ConfigChange) -> str:
    """Who changed what, as a NOC reads it in the event log."""
    if n.user is None:
        who = "the device itself"
    else:
        where = [f"session {n.session_id}"] if n.session_id is not None else []
        if n.source_host:
            where.append(f"from {n.source_host}")
        who = f"user {n.user!r}" + (f" ({', '.join(where)})" if where else "")
    edits = "; ".join(f"{op or 'edit'} {target}" for op, target in n.edits[:_EDITS_SHOWN])
    if len(n.edits) > _EDITS_SHOWN:
        edits += f"; and {len(n.edits) - _EDITS_SHOWN} more"
    return f"Configuration ({n.datastore}) changed by {who}" + (f": {edits}" if edits else "")


def host_key_refused(model: NodalModel, ne: str, why: str, now: float) -> list[Event]:
    """Raise the critical host-key alarm (nothing was sent to the NE)."""
    st = model.states.get(ne)
    if st is None:
        return []
    st.last_error = why
    st.last_poll = now
    st.revision += 1
    # Nothing was exchanged with the NE: whatever the last good poll said, it is not
    # reachable for us now.
    st.reachable = False
    t = model.alarms.raise_(
        AlarmKey(ne, "", HOST_KEY_MISMATCH), Severity.CRITICAL, f"SSH host key refused: {why}", now
    )
    return [t.to_event(model.agent, now)] if t else []


def host_key_ok(model: NodalModel, ne: str, now: float) -> list[Event]:
    t = model.alarms.clear(AlarmKey(ne, "", HOST_KEY_MISMATCH), now)
    return [t.to_event(model.agent, now)] if t else []

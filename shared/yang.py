"""YANG-shaped NETCONF data -> emspool types. Pure: works on already-parsed element trees
(xml.etree or lxml elements; only the common ElementTree API is used), no I/O.

Modules understood: ietf-interfaces (RFC 8343), ietf-system (RFC 7317), ietf-alarms
(RFC 8632), openconfig-lldp, RFC 5277 notifications with ietf-alarms alarm-notification
and the lab's interface-state-change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .model import InterfaceState, Neighbour, OperStatus, Severity
from .nodal import PollResult

IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
SYS_NS = "urn:ietf:params:xml:ns:yang:ietf-system"
AL_NS = "urn:ietf:params:xml:ns:yang:ietf-alarms"
LLDP_NS = "http://openconfig.net/yang/lldp"
NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
LAB_NOTIF_NS = "urn:emspool:lab:notifications"

# One subtree filter that brings everything a poll needs in a single <get>.
POLL_FILTER = (
    f'<interfaces xmlns="{IF_NS}"/>'
    f'<system xmlns="{SYS_NS}"/>'
    f'<system-state xmlns="{SYS_NS}"/>'
    f'<alarms xmlns="{AL_NS}"/>'
    f'<lldp xmlns="{LLDP_NS}"/>'
)
ALARMS_FILTER = f'<alarms xmlns="{AL_NS}"><alarm-list/></alarms>'

# An element of either xml.etree or lxml: both offer find/findall/iter/text/tag.
Element = Any

_IF_NAME = re.compile(r"interface\[(?:\w+:)?name\s*=\s*['\"]([^'\"]+)['\"]\]")


@dataclass(frozen=True, slots=True)
class SystemInfo:
    hostname: str | None
    os_name: str | None
    os_release: str | None
    boot_time: float | None  # epoch seconds
    current_time: float | None


@dataclass(frozen=True, slots=True)
class DeviceAlarm:
    """One entry of the device's RFC 8632 alarm list (or one alarm notification)."""

    resource: str  # interface name when the resource names one, else the raw resource
    alarm_type: str  # local name of alarm-type-id ("link-down" from "lab:link-down")
    qualifier: str
    severity: Severity  # CLEARED when is-cleared / perceived-severity "cleared"
    text: str

    @property
    def is_cleared(self) -> bool:
        return self.severity is Severity.CLEARED

    @property
    def type_key(self) -> str:
        """Alarm type as emspool keys it: qualifier kept so distinct alarms stay distinct."""
        return f"{self.alarm_type}:{self.qualifier}" if self.qualifier else self.alarm_type


@dataclass(frozen=True, slots=True)
class AlarmNotification:
    time: float | None
    alarm: DeviceAlarm


@dataclass(frozen=True, slots=True)
class InterfaceChange:
    time: float | None
    name: str
    if_index: int | None
    oper_up: bool


@dataclass(frozen=True, slots=True)
class OtherNotification:
    """A well-formed notification we do not model (kept as an event)."""

    time: float | None
    tag: str


Notification = AlarmNotification | InterfaceChange | OtherNotification


# -- helpers ------------------------------------------------------------------------------
def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _text(el: Element | None, path: str = "", ns: str = "") -> str | None:
    if el is None:
        return None
    if path:
        el = el.find("/".join(_q(ns, p) for p in path.split("/")))
        if el is None:
            return None
    t = el.text
    return t.strip() if isinstance(t, str) else ""


def _int(s: str | None) -> int | None:
    try:
        return int(s) if s not in (None, "") else None
    except ValueError:
        return None


def _find_all(root: Element, ns: str, name: str) -> list[Element]:
    """Elements called name anywhere at or below root (root may be <data> or the container)."""
    tag = _q(ns, name)
    return [e for e in root.iter(tag)]


def parse_time(s: str | None) -> float | None:
    """RFC 3339 date-time -> epoch seconds (None when absent or unparsable)."""
    if not s:
        return None
    try:
        dt = datetime.fromisoformat(s.strip().replace("z", "Z"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None  # RFC 3339 requires an offset; a bare time is ambiguous
    return dt.timestamp()


def local_name(identity: str) -> str:
    """'lab:link-down' -> 'link-down'; also accepts a bare or {ns}-qualified name."""
    s = identity.strip()
    if s.startswith("{"):
        s = s.split("}", 1)[-1]
    return s.rsplit(":", 1)[-1]


def resource_name(resource: str) -> str:
    """ "/if:interfaces/if:interface[if:name='ge-0/0/3']" -> 'ge-0/0/3'; other text as is."""
    m = _IF_NAME.search(resource)
    return m.group(1) if m else resource.strip()


# -- ietf-interfaces ----------------------------------------------------------------------
# ietf-interfaces oper-status enumeration (RFC 8343 / RFC 7223), same states as IF-MIB.
OPER_STATUS_VALUES: dict[str, OperStatus] = {
    "up": OperStatus.UP,
    "down": OperStatus.DOWN,
    "testing": OperStatus.TESTING,
    "unknown": OperStatus.UNKNOWN,
    "dormant": OperStatus.DORMANT,
    "not-present": OperStatus.NOT_PRESENT,
    "lower-layer-down": OperStatus.LOWER_LAYER_DOWN,
}


def interfaces(root: Element) -> dict[int, InterfaceState]:
    out: dict[int, InterfaceState] = {}
    containers = _find_all(root, IF_NS, "interfaces")
    entries = [e for c in containers for e in c.findall(_q(IF_NS, "interface"))]
    for pos, e in enumerate(entries, start=1):
        idx = _int(_text(e, "if-index", IF_NS)) or pos
        name = _text(e, "name", IF_NS) or str(idx)
        admin = _text(e, "admin-status", IF_NS)
        if admin is None:
            admin = "up" if _text(e, "enabled", IF_NS) != "false" else "down"
        stats = e.find(_q(IF_NS, "statistics"))
        oper = OPER_STATUS_VALUES.get(_text(e, "oper-status", IF_NS) or "", OperStatus.UNKNOWN)
        out[idx] = InterfaceState(
            index=idx,
            name=name,
            admin_up=admin == "up",
            oper_up=oper is OperStatus.UP,
            oper_status=oper,
            speed_bps=_int(_text(e, "speed", IF_NS)) or 0,
            in_octets=_int(_text(stats, "in-octets", IF_NS)) or 0,
            out_octets=_int(_text(stats, "out-octets", IF_NS)) or 0,
            in_errors=_int(_text(stats, "in-errors", IF_NS)) or 0,
            out_errors=_int(_text(stats, "out-errors", IF_NS)) or 0,
        )
    return out


# -- ietf-system ---------------------------------------------------------------------------
def system(root: Element) -> SystemInfo:
    sysc = next(iter(_find_all(root, SYS_NS, "system")), None)
    state = next(iter(_find_all(root, SYS_NS, "system-state")), None)
    return SystemInfo(
        hostname=_text(sysc, "hostname", SYS_NS) or None,
        os_name=_text(state, "platform/os-name", SYS_NS) or None,
        os_release=_text(state, "platform/os-release", SYS_NS) or None,
        boot_time=parse_time(_text(state, "clock/boot-datetime", SYS_NS)),
        current_time=parse_time(_text(state, "clock/current-datetime", SYS_NS)),
    )


def config_summary(root: Element) -> dict[str, object]:
    """What an operator wants from `<get-config>` at a glance: how the box is configured."""
    ifaces = [e for e in _find_all(root, IF_NS, "interface") if _text(e, "name", IF_NS)]
    enabled = sum(1 for e in ifaces if (_text(e, "enabled", IF_NS) or "true") == "true")
    described = sum(1 for e in ifaces if _text(e, "description", IF_NS))
    sysc = next(iter(_find_all(root, SYS_NS, "system")), None)
    return {
        "hostname": _text(sysc, "hostname", SYS_NS) or None,
        "interfaces": len(ifaces),
        "interfaces_enabled": enabled,
        "interfaces_described": described,
    }


def capability_summary(capabilities: list[str]) -> dict[str, object]:
    """The hello's capabilities as an operator reads them: NETCONF features and modules."""
    base = sorted(c.rsplit(":", 1)[-1] for c in capabilities if ":netconf:base:" in c)
    features = sorted(
        c.split(":capability:", 1)[1].split("?")[0]
        for c in capabilities
        if ":netconf:capability:" in c
    )
    modules = sorted(m.group(1) for c in capabilities if (m := re.search(r"[?&]module=([^&]+)", c)))
    return {"netconf_base": base, "netconf_features": features, "yang_modules": modules}


def uptime_ticks(info: SystemInfo, now: float) -> int | None:
    """Uptime in TimeTicks (1/100 s), like sysUpTime, so restart detection works the same.

    The device's own clock is preferred for "now": then clock skew between the NE and
    us does not bend the figure.
    """
    if info.boot_time is None:
        return None
    current = info.current_time if info.current_time is not None else now
    return max(0, int((current - info.boot_time) * 100))


# -- ietf-alarms ---------------------------------------------------------------------------
def _severity(text: str | None) -> Severity:
    if text is None or text == "":
        return Severity.INDETERMINATE
    try:
        return Severity.parse(text)
    except ValueError:
        return Severity.INDETERMINATE


def _alarm(e: Element, cleared: bool) -> DeviceAlarm:
    resource = _text(e, "resource", AL_NS)
    type_id = _text(e, "alarm-type-id", AL_NS)
    if not resource or not type_id:
        raise ValueError("alarm without resource or alarm-type-id")
    sev = Severity.CLEARED if cleared else _severity(_text(e, "perceived-severity", AL_NS))
    return DeviceAlarm(
        resource=resource_name(resource),
        alarm_type=local_name(type_id),
        qualifier=_text(e, "alarm-type-qualifier", AL_NS) or "",
        severity=sev,
        text=(_text(e, "alarm-text", AL_NS) or "")[:512],
    )


def alarms(root: Element) -> list[DeviceAlarm]:
    """The device's alarm list; entries missing their keys are skipped, not fatal."""
    out: list[DeviceAlarm] = []
    for lst in _find_all(root, AL_NS, "alarm-list"):
        for e in lst.findall(_q(AL_NS, "alarm")):
            try:
                out.append(_alarm(e, _text(e, "is-cleared", AL_NS) == "true"))
            except ValueError:
                continue
    return out


def has_alarm_list(root: Element) -> bool:
    return bool(_find_all(root, AL_NS, "alarm-list"))


# -- openconfig-lldp -----------------------------------------------------------------------
def neighbours(root: Element) -> list[Neighbour]:
    out: list[Neighbour] = []
    for lldp in _find_all(root, LLDP_NS, "lldp"):
        for itf in lldp.iter(_q(LLDP_NS, "interface")):
            local = _text(itf, "name", LLDP_NS)
            if not local:
                continue
            for n in itf.iter(_q(LLDP_NS, "neighbor")):
                st = n.find(_q(LLDP_NS, "state"))
                remote = _text(st, "system-name", LLDP_NS)
                if not remote:
                    continue
                out.append(
                    Neighbour(
                        local_port=local,
                        remote_name=remote,
                        remote_port=_text(st, "port-id", LLDP_NS) or "",
                        remote_chassis=_text(st, "chassis-id", LLDP_NS) or "",
                    )
                )
    return out


# -- one poll ------------------------------------------------------------------------------
def poll_result(ne: str, data: Element, now: float) -> PollResult:
    """A <get> reply's <data> (filtered with POLL_FILTER) as a PollResult.

    ietf-interfaces counters are 64-bit. Neighbours are None when the device does not
    model LLDP at all (not the same as "no neighbours").
    """
    info = system(data)
    has_lldp = bool(_find_all(data, LLDP_NS, "lldp"))
    return PollResult(
        ne=ne,
        time=now,
        sys_uptime=uptime_ticks(info, now),
        interfaces=interfaces(data),
        sys_name=info.hostname,
        sys_descr=" ".join(p for p in (info.os_name, info.os_release) if p) or None,
        neighbours=neighbours(data) if has_lldp else None,
    )


# -- notifications -------------------------------------------------------------------------
def parse_notification(root: Element) -> Notification:
    """An RFC 5277 <notification> -> one of our notification types; ValueError if malformed."""
    if root.tag != _q(NOTIF_NS, "notification"):
        raise ValueError(f"not a notification: {str(root.tag)[:80]}")
    event_time = _text(root, "eventTime", NOTIF_NS)
    when = parse_time(event_time)
    if when is None:
        raise ValueError("notification without a valid eventTime")
    body = [c for c in root if isinstance(c.tag, str) and c.tag != _q(NOTIF_NS, "eventTime")]
    if len(body) != 1:
        raise ValueError(f"notification with {len(body)} body elements (expected 1)")
    b = body[0]
    if b.tag == _q(AL_NS, "alarm-notification"):
        sev_text = _text(b, "perceived-severity", AL_NS)
        if sev_text is None:
            raise ValueError("alarm-notification without perceived-severity")
        if sev_text != "cleared" and sev_text.upper() not in Severity.__members__:
            raise ValueError(f"alarm-notification with unknown severity {sev_text[:40]!r}")
        return AlarmNotification(when, _alarm(b, cleared=sev_text == "cleared"))
    if b.tag == _q(LAB_NOTIF_NS, "interface-state-change"):
        name = _text(b, "name", LAB_NOTIF_NS)
        oper = _text(b, "oper-status", LAB_NOTIF_NS)
        if not name or oper not in ("up", "down"):
            raise ValueError("interface-state-change without name or a valid oper-status")
        return InterfaceChange(when, name, _int(_text(b, "if-index", LAB_NOTIF_NS)), oper == "up")
    return OtherNotification(when, str(b.tag)[:200])

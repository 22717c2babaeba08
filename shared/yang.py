"""YANG-shaped NETCONF data -> emspool types. Pure: works on already-parsed element trees
(xml.etree or lxml elements; only the common ElementTree API is used), no I/O.

Modules understood: ietf-interfaces in both shapes (NMDA RFC 8343 ``/interfaces`` with
state inside, and RFC 7223 ``/interfaces-state``), ietf-system (RFC 7317), ietf-alarms
(RFC 8632), openconfig-lldp, and RFC 5277 notifications from ``NOTIFICATIONS`` (one table:
ietf-alarms, link up/down in the shapes devices send, RFC 6470 config changes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .model import Neighbour, Severity
from .nodal import PollResult
from .yang_interfaces import IF_NS as IF_NS
from .yang_interfaces import MAX_IF_INDEX as MAX_IF_INDEX
from .yang_interfaces import OPER_STATUS_VALUES as OPER_STATUS_VALUES
from .yang_interfaces import int_or_none as _int
from .yang_interfaces import interfaces as interfaces
from .yang_interfaces import leaf_text as _val
from .yang_interfaces import stable_index as stable_index

SYS_NS = "urn:ietf:params:xml:ns:yang:ietf-system"
AL_NS = "urn:ietf:params:xml:ns:yang:ietf-alarms"
LLDP_NS = "http://openconfig.net/yang/lldp"
NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
LAB_NOTIF_NS = "urn:emspool:lab:notifications"
# yuma123's interfaces-notifications module (link-up/link-down with if-name), sent by
# netconfd's ietf-interfaces implementation.
IFNOTIF_NS = "http://yuma123.org/ns/interfaces-notifications"
# IF-MIB translated to YANG (RFC 6643): Cisco IOS-XE sends linkDown/linkUp like this.
IF_MIB_NS = "urn:ietf:params:xml:ns:yang:smiv2:IF-MIB"
NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"  # RFC 6470

# One subtree filter that brings everything a poll needs in a single <get>. Both interface
# trees: NMDA devices put state in /interfaces, RFC 7223 ones in /interfaces-state.
POLL_FILTER = (
    f'<interfaces xmlns="{IF_NS}"/>'
    f'<interfaces-state xmlns="{IF_NS}"/>'
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
    """A link went up or down; the device names the port, its ifIndex, or both."""

    time: float | None
    name: str | None
    if_index: int | None
    oper_up: bool
    admin_up: bool | None = None  # when the notification says (IF-MIB ifAdminStatus)


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """RFC 6470 netconf-config-change: who changed which datastore, and where."""

    time: float | None
    user: str | None  # None: the server itself (changed-by/server)
    session_id: int | None
    source_host: str | None
    datastore: str
    edits: tuple[tuple[str, str], ...]  # (operation, target instance-identifier)


@dataclass(frozen=True, slots=True)
class OtherNotification:
    """A well-formed notification we do not model (kept as an event)."""

    time: float | None
    tag: str


Notification = AlarmNotification | InterfaceChange | ConfigChange | OtherNotification


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


# -- ietf-interfaces: shared/yang_interfaces.py ----------------------------------------------
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


_BASE_CAPABILITY = re.compile(r"urn:ietf:params:netconf:base:(\d+\.\d+)")
_FEATURE_PREFIX = "urn:ietf:params:netconf:capability:"
_MODULE_PARAM = re.compile(r"(?:^|&)module=([^&]+)")


def capability_summary(capabilities: list[str]) -> dict[str, object]:
    """The hello's capabilities as an operator reads them: NETCONF features and modules.

    Base versions come only from ``urn:ietf:params:netconf:base:X.Y`` (RFC 6241 10.x);
    the ietf-netconf module's own capability (``urn:ietf:params:xml:ns:netconf:base:1.0
    ?module=ietf-netconf&...``) is a module, not a base version.
    """
    base: set[str] = set()
    features: set[str] = set()
    modules: set[str] = set()
    for raw in capabilities:
        uri, _, query = raw.strip().partition("?")
        if m := _BASE_CAPABILITY.fullmatch(uri):
            base.add(m.group(1))
        elif uri.startswith(_FEATURE_PREFIX):
            features.add(uri[len(_FEATURE_PREFIX) :])
        if mm := _MODULE_PARAM.search(query):
            modules.add(mm.group(1))
    return {
        "netconf_base": sorted(base),
        "netconf_features": sorted(features),
        "yang_modules": sorted(modules),
    }


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
NotificationParser = Callable[[float, Element], Notification]


def _alarm_notification(when: float, b: Element) -> Notification:
    sev_text = _text(b, "perceived-severity", AL_NS)
    if sev_text is None:
        raise ValueError("alarm-notification without perceived-severity")
    if sev_text != "cleared" and sev_text.upper() not in Severity.__members__:
        raise ValueError(f"alarm-notification with unknown severity {sev_text[:40]!r}")
    return AlarmNotification(when, _alarm(b, cleared=sev_text == "cleared"))


def _lab_interface_change(when: float, b: Element) -> Notification:
    name = _text(b, "name", LAB_NOTIF_NS)
    oper = _text(b, "oper-status", LAB_NOTIF_NS)
    if not name or oper not in ("up", "down"):
        raise ValueError("interface-state-change without name or a valid oper-status")
    return InterfaceChange(when, name, _int(_text(b, "if-index", LAB_NOTIF_NS)), oper == "up")


def _named_link(up: bool) -> NotificationParser:
    """interfaces-notifications link-up/link-down: the port by name (leaf if-name)."""

    def parse(when: float, b: Element) -> Notification:
        name = _text(b, "if-name", IFNOTIF_NS)
        if not name:
            raise ValueError(f"{local_name(str(b.tag))} without if-name")
        return InterfaceChange(when, name[:255], None, up)

    return parse


def _if_mib_link(up: bool) -> NotificationParser:
    """IF-MIB linkDown/linkUp as RFC 6643 YANG: the port by ifIndex, carried as the index
    of each object-N container (object-2 ifAdminStatus, object-3 ifOperStatus)."""

    def parse(when: float, b: Element) -> Notification:
        admin = _val(next(b.iter(_q(IF_MIB_NS, "ifAdminStatus")), None))
        for el in b.iter(_q(IF_MIB_NS, "ifIndex")):
            idx = _int(_val(el))
            if idx is not None and 1 <= idx <= MAX_IF_INDEX:
                return InterfaceChange(when, None, idx, up, admin == "up" if admin else None)
        raise ValueError(f"{local_name(str(b.tag))} without a valid ifIndex")

    return parse


_MAX_EDITS = 64


def _config_change(when: float, b: Element) -> Notification:
    by = b.find(_q(NCN_NS, "changed-by"))
    user = _text(by, "username", NCN_NS) if by is not None else None
    if by is not None and by.find(_q(NCN_NS, "server")) is not None:
        user = None
    edits = tuple(
        ((_text(e, "operation", NCN_NS) or "")[:32], (_text(e, "target", NCN_NS) or "")[:512])
        for e in b.findall(_q(NCN_NS, "edit"))[:_MAX_EDITS]
    )
    return ConfigChange(
        time=when,
        user=user[:128] if user else None,
        session_id=_int(_text(by, "session-id", NCN_NS)),
        source_host=(_text(by, "source-host", NCN_NS) or None),
        datastore=(_text(b, "datastore", NCN_NS) or "running")[:32],  # RFC 6470 default
        edits=edits,
    )


# The one table of notifications emspool understands: body element (namespace + name) ->
# parser. Anything else is an OtherNotification (kept as an event).
NOTIFICATIONS: dict[str, NotificationParser] = {
    _q(AL_NS, "alarm-notification"): _alarm_notification,
    _q(LAB_NOTIF_NS, "interface-state-change"): _lab_interface_change,
    _q(IFNOTIF_NS, "link-down"): _named_link(up=False),
    _q(IFNOTIF_NS, "link-up"): _named_link(up=True),
    _q(IF_MIB_NS, "linkDown"): _if_mib_link(up=False),
    _q(IF_MIB_NS, "linkUp"): _if_mib_link(up=True),
    _q(NCN_NS, "netconf-config-change"): _config_change,
}


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
    parser = NOTIFICATIONS.get(b.tag)
    if parser is not None:
        return parser(when, b)
    return OtherNotification(when, str(b.tag)[:200])

"""One simulated NETCONF device's data and how it renders as YANG-shaped XML.

Pure state, no I/O: the server asks for XML, the fault methods change the state
and return the notifications to send. Namespaces and element names follow the
shared data contract (ietf-interfaces, ietf-system, ietf-alarms, openconfig-lldp);
how interfaces and link changes look depends on the device's shape (``lab.netconf.shapes``).
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lab.netconf import shapes
from lab.recording import if_name, mac
from shared.errors import LabError

NS_IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
NS_SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
NS_ALARMS = "urn:ietf:params:xml:ns:yang:ietf-alarms"
NS_LLDP = "http://openconfig.net/yang/lldp"
NS_LAB_ALARMS = "urn:emspool:lab:alarms"
NS_NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"

LINK_DOWN = "lab:link-down"
SEVERITIES = ("indeterminate", "warning", "minor", "major", "critical")
# Containers a subtree filter may select, by (namespace, local name).
TOP_LEVEL = {
    "interfaces": NS_IF,
    "interfaces-state": NS_IF,
    "system": NS_SYS,
    "system-state": NS_SYS,
    "alarms": NS_ALARMS,
    "lldp": NS_LLDP,
}


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rates(name: str, ifindex: int) -> tuple[int, int]:
    """Octets/s in and out, deterministic per port so reruns look alike."""
    digest = hashlib.sha256(f"nc/{name}/{ifindex}".encode()).digest()
    return 100_000 + digest[0] * 20_000, 100_000 + digest[1] * 20_000


@dataclass(frozen=True, slots=True)
class Neighbour:
    """The far end of a cable as LLDP shows it."""

    system_name: str
    port_id: str
    chassis_id: str


@dataclass(slots=True)
class DeviceSpec:
    """What a device is; JSON-serialisable (see ``lab.netconf.fleet``)."""

    name: str
    address: str
    port: int
    kind: str = "router"  # lab.topology.ROUTER or SWITCH: picks interface names
    ports: int = 24
    neighbours: dict[int, Neighbour] = field(default_factory=dict)  # local ifIndex -> far end
    # How the device reports and announces (see lab.netconf.shapes).
    shape: str = shapes.NMDA
    sparse: bool = False
    shuffle: bool = False
    link_notifications: tuple[str, ...] = (shapes.LAB,)
    link_alarm: bool = True  # a cut cable also raises lab:link-down in ietf-alarms
    config_change: bool = True  # RFC 6470 netconf-config-change on configuration edits

    def __post_init__(self) -> None:
        self.link_notifications = tuple(self.link_notifications)
        if self.shape not in shapes.SHAPES:
            raise LabError(f"{self.name}: shape must be one of {', '.join(shapes.SHAPES)}")
        bad = [s for s in self.link_notifications if s not in shapes.LINK_STYLES]
        if bad:
            raise LabError(
                f"{self.name}: link notifications must be among"
                f" {', '.join(shapes.LINK_STYLES)}, not {bad}"
            )

    def behaviour(self) -> dict[str, object]:
        return {
            "shape": self.shape,
            "sparse": self.sparse,
            "shuffle": self.shuffle,
            "link_notifications": list(self.link_notifications),
            "link_alarm": self.link_alarm,
            "config_change": self.config_change,
        }

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "kind": self.kind,
            "ports": self.ports,
            **self.behaviour(),
            "neighbours": {
                str(i): {
                    "system_name": n.system_name,
                    "port_id": n.port_id,
                    "chassis_id": n.chassis_id,
                }
                for i, n in self.neighbours.items()
            },
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> DeviceSpec:
        try:
            neighbours = raw.get("neighbours") or {}
            assert isinstance(neighbours, dict)
            return cls(
                name=str(raw["name"]),
                address=str(raw["address"]),
                port=int(str(raw["port"])),
                kind=str(raw.get("kind", "router")),
                ports=int(str(raw.get("ports", 24))),
                neighbours={int(k): Neighbour(**v) for k, v in neighbours.items()},
                **_behaviour(raw),
            )
        except (KeyError, TypeError, ValueError, AssertionError) as exc:
            raise LabError(f"bad NETCONF device spec {raw!r}: {exc}") from None


def _behaviour(raw: dict[str, object]) -> dict[str, Any]:
    """The shape settings present in ``raw``, type-checked (absent ones keep defaults)."""
    out: dict[str, Any] = {}
    if "shape" in raw:
        out["shape"] = str(raw["shape"])
    for flag in ("sparse", "shuffle", "link_alarm", "config_change"):
        if flag in raw:
            if not isinstance(raw[flag], bool):
                raise TypeError(f"{flag} must be true or false")
            out[flag] = raw[flag]
    if "link_notifications" in raw:
        styles = raw["link_notifications"]
        if not isinstance(styles, list | tuple) or not all(isinstance(s, str) for s in styles):
            raise TypeError("link_notifications must be a list of names")
        out["link_notifications"] = tuple(styles)
    return out


@dataclass(slots=True)
class Alarm:
    resource: str
    type_id: str
    qualifier: str
    severity: str
    text: str
    time_created: float
    last_raised: float
    last_changed: float
    is_cleared: bool = False


@dataclass(slots=True)
class _Port:
    ifindex: int
    name: str
    in_use: bool
    oper_up: bool
    rate_in: int
    rate_out: int
    description: str = ""
    # Counters grow only while the port is up: octets so far, and since when it counts.
    acc_in: float = 0.0
    acc_out: float = 0.0
    since: float = 0.0

    def settle(self, now: float) -> None:
        if self.oper_up:
            self.acc_in += self.rate_in * (now - self.since)
            self.acc_out += self.rate_out * (now - self.since)
        self.since = now


class DeviceModel:
    """Interfaces, system, alarms and LLDP of one device; returns notification bodies."""

    def __init__(self, spec: DeviceSpec) -> None:
        if not 1 <= spec.ports <= 512:
            raise LabError(f"{spec.name}: port count {spec.ports} out of range")
        self.spec = spec
        self.alarms: dict[tuple[str, str, str], Alarm] = {}
        self.alarms_changed = time.time()
        self.boot_time = 0.0
        self.ports: dict[int, _Port] = {}
        self._rng = random.Random(spec.name)  # shuffled orders differ per reply, not per run
        for i in range(1, spec.ports + 1):
            in_use = i in spec.neighbours or i <= spec.ports // 2
            rin, rout = _rates(spec.name, i) if in_use else (0, 0)
            descr = "in use" if in_use else "unused"
            self.ports[i] = _Port(i, if_name(spec.kind, i), in_use, in_use, rin, rout, descr)
        self.boot()

    def reconfigure(self, **changes: object) -> dict[str, object]:
        """Change how the device reports (shape, sparse, ...); validated like a spec."""
        unknown = set(changes) - set(self.spec.behaviour())
        if unknown:
            raise LabError(f"unknown device settings {sorted(unknown)}")
        new = DeviceSpec.from_json(self.spec.to_json() | changes)
        for key in self.spec.behaviour():
            setattr(self.spec, key, getattr(new, key))
        return self.spec.behaviour()

    def capabilities(self) -> list[str]:
        s = self.spec
        return shapes.capabilities(s.shape, s.link_notifications, s.config_change)

    def boot(self) -> None:
        """A (re)started device: fresh boot time, counters from zero; faults stay."""
        now = time.time()
        self.boot_time = now
        for port in self.ports.values():
            port.acc_in = port.acc_out = 0.0
            port.since = now

    def port(self, ifindex: int) -> _Port:
        try:
            return self.ports[ifindex]
        except KeyError:
            raise LabError(
                f"{self.spec.name} has no ifIndex {ifindex} (1..{self.spec.ports})"
            ) from None

    # ---- faults: each returns the notification bodies to send ---------------------

    def set_oper(self, ifindex: int, up: bool) -> list[str]:
        """Cable cut or repaired: oper-status, the link-down alarm and both notifications.

        Unused (admin down) ports have no link: they stay down and say nothing.
        """
        port = self.port(ifindex)
        if not port.in_use or port.oper_up == up:
            return []
        port.settle(time.time())
        port.oper_up = up
        bodies = shapes.link_bodies(self.spec.link_notifications, self._view(port), up)
        if not self.spec.link_alarm:
            return bodies
        if up:
            alarm = self.clear_alarm(LINK_DOWN, port.name)
        else:
            alarm = self.raise_alarm(LINK_DOWN, port.name, "major", f"Link down on {port.name}")
        return [*bodies, *alarm]

    def set_description(
        self, ifindex: int, text: str, user: str = "admin", session_id: int = 0
    ) -> list[str]:
        """An operator edits a port's description (session 0: not over NETCONF, RFC 6470)."""
        port = self.port(ifindex)
        if len(text) > 255 or any(ord(c) < 32 for c in text):
            raise LabError("description must be at most 255 printable characters")
        if not user or len(user) > 64:
            raise LabError("user must be 1..64 characters")
        op = "replace" if port.description else "create"
        port.description = text
        if not self.spec.config_change:
            return []
        target = shapes.if_target(port.name, "description")
        return [shapes.config_change(user, int(session_id), None, [(op, target)])]

    def raise_alarm(
        self, type_id: str, resource: str, severity: str, text: str, qualifier: str = ""
    ) -> list[str]:
        if severity not in SEVERITIES:
            raise LabError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        _check_identity(type_id)
        now = time.time()
        key = (resource, type_id, qualifier)
        alarm = self.alarms.get(key)
        if alarm is None:
            alarm = Alarm(resource, type_id, qualifier, severity, text, now, now, now)
            self.alarms[key] = alarm
        else:
            if alarm.is_cleared:
                alarm.last_raised = now
            alarm.is_cleared, alarm.severity, alarm.text, alarm.last_changed = (
                False,
                severity,
                text,
                now,
            )
        self.alarms_changed = now
        return [_alarm_notification(alarm, severity)]

    def clear_alarm(self, type_id: str, resource: str, qualifier: str = "") -> list[str]:
        """Clearing an alarm that is not raised is a no-op, as on a real device."""
        alarm = self.alarms.get((resource, type_id, qualifier))
        if alarm is None or alarm.is_cleared:
            return []
        now = time.time()
        alarm.is_cleared, alarm.last_changed = True, now
        self.alarms_changed = now
        return [_alarm_notification(alarm, "cleared")]

    def oper_down(self) -> list[int]:
        return [p.ifindex for p in self.ports.values() if p.in_use and not p.oper_up]

    # ---- rendering -----------------------------------------------------------------

    def data(self, wanted: set[str] | None = None) -> str:
        """Operational state (``<get>``): every top-level container, or ``wanted``."""
        parts: list[str] = []
        shape, sparse = self.spec.shape, self.spec.sparse
        if wanted is None or "interfaces" in wanted or "interfaces-state" in wanted:
            now = time.time()
            for p in self.ports.values():
                p.settle(now)
        boot = rfc3339(self.boot_time)
        if wanted is None or "interfaces" in wanted:
            parts.append(shapes.interfaces(self._listed(), shape, sparse, boot))
        if shape != shapes.NMDA and (wanted is None or "interfaces-state" in wanted):
            parts.append(shapes.interfaces_state(self._listed(), sparse, boot))
        if wanted is None or "system" in wanted:
            parts.append(self._system())
        if wanted is None or "system-state" in wanted:
            parts.append(self._system_state())
        if wanted is None or "alarms" in wanted:
            parts.append(self._alarms())
        if wanted is None or "lldp" in wanted:
            parts.append(self._lldp())
        return "".join(parts)

    def config(self) -> str:
        return shapes.config(self._view(p) for p in self.ports.values()) + self._system()

    def _view(self, p: _Port) -> shapes.PortView:
        raw = mac(self.spec.name, p.ifindex % 256)
        return shapes.PortView(
            ifindex=p.ifindex,
            name=p.name,
            enabled=p.in_use,
            oper_up=p.oper_up,
            description=p.description,
            in_octets=int(p.acc_in),
            out_octets=int(p.acc_out),
            phys_address=":".join(raw[i : i + 2] for i in range(0, 12, 2)),
        )

    def _listed(self) -> list[shapes.PortView]:
        """The ports in the order this reply lists them (a new order each time if shuffled)."""
        views = [self._view(p) for p in self.ports.values()]
        if self.spec.shuffle:
            self._rng.shuffle(views)
        return views

    def _system(self) -> str:
        return f'<system xmlns="{NS_SYS}"><hostname>{escape(self.spec.name)}</hostname></system>'

    def _system_state(self) -> str:
        release = "7.4.2" if self.spec.kind == "router" else "9.3.1"
        return (
            f'<system-state xmlns="{NS_SYS}"><platform><os-name>EmspoolOS</os-name>'
            f"<os-release>{release}</os-release><machine>{escape(self.spec.kind)}</machine>"
            f"</platform><clock><current-datetime>{rfc3339(time.time())}</current-datetime>"
            f"<boot-datetime>{rfc3339(self.boot_time)}</boot-datetime></clock></system-state>"
        )

    def _alarms(self) -> str:
        out = [
            f'<alarms xmlns="{NS_ALARMS}"><alarm-list>'
            f"<number-of-alarms>{len(self.alarms)}</number-of-alarms>"
            f"<last-changed>{rfc3339(self.alarms_changed)}</last-changed>"
        ]
        for a in self.alarms.values():
            out.append(
                f"<alarm><resource>{escape(a.resource)}</resource>"
                f"<alarm-type-id {_xmlns_for(a.type_id)}>{escape(a.type_id)}</alarm-type-id>"
                f"<alarm-type-qualifier>{escape(a.qualifier)}</alarm-type-qualifier>"
                f"<time-created>{rfc3339(a.time_created)}</time-created>"
                f"<is-cleared>{'true' if a.is_cleared else 'false'}</is-cleared>"
                f"<last-raised>{rfc3339(a.last_raised)}</last-raised>"
                f"<last-changed>{rfc3339(a.last_changed)}</last-changed>"
                f"<perceived-severity>{a.severity}</perceived-severity>"
                f"<alarm-text>{escape(a.text)}</alarm-text></alarm>"
            )
        out.append("</alarm-list></alarms>")
        return "".join(out)

    def _lldp(self) -> str:
        out = [f'<lldp xmlns="{NS_LLDP}"><interfaces>']
        for ifindex, n in sorted(self.spec.neighbours.items()):
            out.append(
                f"<interface><name>{escape(self.port(ifindex).name)}</name><neighbors>"
                f"<neighbor><id>1</id><state><system-name>{escape(n.system_name)}</system-name>"
                f"<port-id>{escape(n.port_id)}</port-id>"
                f"<chassis-id>{escape(n.chassis_id)}</chassis-id></state></neighbor>"
                "</neighbors></interface>"
            )
        out.append("</interfaces></lldp>")
        return "".join(out)


def chassis_id(name: str) -> str:
    """The device's LLDP chassis ID, colon-separated like most CLIs print it."""
    raw = mac(name)
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


def _check_identity(type_id: str) -> None:
    prefix, sep, local = type_id.partition(":")
    if not sep or not prefix or not local or any(c.isspace() or c in "<>&\"'" for c in type_id):
        raise LabError(f"alarm type must be an identity like lab:fan-failure, not {type_id!r}")


def _xmlns_for(type_id: str) -> str:
    """Bind the identity's prefix: ``lab`` is ours, anything else gets a lab namespace too."""
    prefix = type_id.partition(":")[0]
    ns = {"lab": NS_LAB_ALARMS, "al": NS_ALARMS}.get(prefix, f"{NS_LAB_ALARMS}:{prefix}")
    return f"xmlns:{prefix}={quoteattr(ns)}"


def _alarm_notification(alarm: Alarm, severity: str) -> str:
    return (
        f'<alarm-notification xmlns="{NS_ALARMS}"><resource>{escape(alarm.resource)}</resource>'
        f"<alarm-type-id {_xmlns_for(alarm.type_id)}>{escape(alarm.type_id)}</alarm-type-id>"
        f"<alarm-type-qualifier>{escape(alarm.qualifier)}</alarm-type-qualifier>"
        f"<time>{rfc3339(alarm.last_changed)}</time>"
        f"<perceived-severity>{severity}</perceived-severity>"
        f"<alarm-text>{escape(alarm.text)}</alarm-text></alarm-notification>"
    )


def notification(body: str, when: float | None = None) -> bytes:
    ts = rfc3339(time.time() if when is None else when)
    return (
        f'<notification xmlns="{NS_NOTIF}"><eventTime>{ts}</eventTime>{body}</notification>'
    ).encode()

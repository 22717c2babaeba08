"""Domain types shared by the agent, the CLI and the console. No I/O here."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass, field

from shared.snmp_security import AUTH_NAMES, PRIV_NAMES


class Severity(enum.IntEnum):
    """ITU-T X.733 perceived severity; ordering is meaningful (higher = worse)."""

    CLEARED = 0
    INDETERMINATE = 1
    WARNING = 2
    MINOR = 3
    MAJOR = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class SnmpVersion(enum.StrEnum):
    V1 = "1"
    V2C = "2c"
    V3 = "3"
    NONE = "none"  # the profile carries no SNMP credentials (a NETCONF-only profile)


class Protocol(enum.StrEnum):
    SNMP = "snmp"
    NETCONF = "netconf"


class OperStatus(enum.StrEnum):
    """Operational state of an interface: IF-MIB ifOperStatus (RFC 2863) and the
    ietf-interfaces oper-status enumeration name the same seven states."""

    UP = "up"
    DOWN = "down"
    TESTING = "testing"
    UNKNOWN = "unknown"  # also: the device did not report it
    DORMANT = "dormant"
    NOT_PRESENT = "notPresent"  # e.g. an empty slot or a missing transceiver
    LOWER_LAYER_DOWN = "lowerLayerDown"


class LinkAlarms(enum.StrEnum):
    """Which interfaces raise link-down alarms (per NE, or per interface as an override).

    DEFAULT: admin-up ports that are down or lowerLayerDown and have been seen up since
    the NE was managed (so empty slots and never-connected ports stay quiet);
    MONITOR: every admin-up port that is not up, notPresent included; IGNORE: never.
    """

    DEFAULT = "default"
    MONITOR = "monitor"
    IGNORE = "ignore"


# The profile names of the SNMPv3 protocols: the one table is shared/snmp_security.py.
AUTH_PROTOCOLS = AUTH_NAMES
PRIV_PROTOCOLS = PRIV_NAMES


@dataclass(frozen=True, slots=True)
class CredentialProfile:
    """How to talk to an NE. The secrets never appear in repr() or logs."""

    name: str
    version: SnmpVersion = SnmpVersion.V2C
    community: str = field(default="", repr=False)
    user: str = ""
    auth_protocol: str = "none"
    auth_key: str = field(default="", repr=False)
    priv_protocol: str = "none"
    priv_key: str = field(default="", repr=False)
    # NETCONF over SSH: ``user`` with a password and/or a private key file.
    password: str = field(default="", repr=False)
    key_file: str = ""
    context: str = ""  # SNMPv3 context name (an NE's own context wins)

    @property
    def has_snmp(self) -> bool:
        return self.version is not SnmpVersion.NONE

    @property
    def has_ssh(self) -> bool:
        return bool(self.user and (self.password or self.key_file))

    def redacted(self) -> dict[str, object]:
        """What may be shown to an operator: everything but the secrets."""
        return {
            "name": self.name,
            "version": self.version.value,
            "user": self.user,
            "auth_protocol": self.auth_protocol,
            "priv_protocol": self.priv_protocol,
            "password_set": bool(self.password),
            "key_file": self.key_file,
            "context": self.context,
        }


@dataclass(frozen=True, slots=True)
class NetworkElement:
    """An inventory record: what to poll and how."""

    name: str
    address: str
    port: int = 161
    profile: str = "default"
    kind: str = "router"
    protocols: frozenset[Protocol] = frozenset({Protocol.SNMP})
    poll_interval: float | None = None  # None: the agent's default
    netconf_port: int = 830
    host_key: str = ""  # pinned SSH host public key ("ssh-ed25519 AAAA..."); not a secret
    managed: bool = True  # False: kept in the inventory, not polled, its alarms closed
    # SNMPv3: the NE's authoritative engine ID pinned (hex; empty: learnt) and the context
    # name (empty: the profile's), for devices with several instances (VRFs, bridges).
    engine_id: str = ""
    context: str = ""
    link_alarms: LinkAlarms = LinkAlarms.DEFAULT
    # Per-interface overrides: (interface name or ifIndex as text, LinkAlarms), sorted.
    interface_alarms: tuple[tuple[str, LinkAlarms], ...] = ()
    # The pool: only agents serving this zone may manage it ("" any agent); pinned to
    # this agent while it is live and eligible ("" no pin).
    zone: str = ""
    pin: str = ""

    def link_alarms_for(self, index: int, name: str) -> LinkAlarms:
        """The link-alarm mode of one interface: its override by name, then by index."""
        for key, mode in self.interface_alarms:
            if key == name or key == str(index):
                return mode
        return self.link_alarms

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "profile": self.profile,
            "kind": self.kind,
            "protocols": sorted(p.value for p in self.protocols),
            "poll_interval": self.poll_interval,
            "netconf_port": self.netconf_port,
            "host_key": self.host_key,
            "managed": self.managed,
            "engine_id": self.engine_id,
            "context": self.context,
            "link_alarms": self.link_alarms.value,
            "interface_alarms": {k: v.value for k, v in self.interface_alarms},
            "zone": self.zone,
            "pin": self.pin,
        }


@dataclass(slots=True)
class InterfaceState:
    index: int
    name: str = ""
    admin_up: bool = True
    oper_up: bool = True
    # What the device reported; None: built without it (then oper_up decides). A device
    # that omits the leaf is reported as UNKNOWN, never as DOWN.
    oper_status: OperStatus | None = None
    speed_bps: int = 0
    in_octets: int = 0
    out_octets: int = 0
    in_errors: int = 0
    out_errors: int = 0
    in_bps: float | None = None  # rates need two polls
    out_bps: float | None = None
    # Width of the octet counters read (IF-MIB: 64 = ifHCIn/OutOctets, 32 = ifIn/OutOctets,
    # which interfaces of 20 Mb/s or less may be limited to); 0 = the device gave none.
    counter_bits: int = 64
    discontinuity: int | None = None  # ifCounterDiscontinuityTime (TimeTicks), once read


def status_of(i: InterfaceState) -> OperStatus:
    if i.oper_status is not None:
        return i.oper_status
    return OperStatus.UP if i.oper_up else OperStatus.DOWN


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One LLDP remote entry as seen from ``local_port`` of the polled NE."""

    local_port: str
    remote_name: str
    remote_port: str
    remote_chassis: str = ""


@dataclass(slots=True)
class NeState:
    """Live state of one NE, as the last polls left it."""

    name: str
    reachable: bool | None = None  # None: never polled yet
    last_poll: float | None = None
    last_error: str | None = None
    sys_name: str = ""
    sys_descr: str = ""
    sys_uptime: int | None = None  # TimeTicks (1/100 s)
    interfaces: dict[int, InterfaceState] = field(default_factory=dict)
    neighbours: list[Neighbour] = field(default_factory=list)
    consecutive_failures: int = 0
    polls: int = 0
    # Bumped by every change the model applies (poll, failed poll, trap, notification): a
    # reader that saw this revision has nothing new to look at (shared/snapshot.py).
    revision: int = 0
    config: dict[str, object] = field(default_factory=dict)  # e.g. a NETCONF get-config summary
    ever_up: set[int] = field(default_factory=set)  # ifIndexes seen up since managed
    # What the NOC should know besides reachability, by area ("poll", "lldp", "interfaces"):
    # e.g. an agent serving a table out of order, or a poll that crashed on odd data.
    problems: dict[str, str] = field(default_factory=dict)
    # SNMPv3: the NE's authoritative engine ID (hex) and where it comes from ("pinned" in
    # the inventory, "learnt" from an authenticated trap), and the context name polled.
    engine_id: str = ""
    engine_source: str = ""
    context: str = ""

    def summary(self) -> dict[str, object]:
        return {
            "name": self.name,
            "reachable": self.reachable,
            "last_poll": self.last_poll,
            "last_error": self.last_error,
            "sys_name": self.sys_name,
            "sys_uptime": self.sys_uptime,
            "interfaces": len(self.interfaces),
            "interfaces_down": sum(
                1
                for i in self.interfaces.values()
                if i.admin_up and status_of(i) in (OperStatus.DOWN, OperStatus.LOWER_LAYER_DOWN)
            ),
            "neighbours": len(self.neighbours),
            # The LLDP view itself, so a client can draw the links as the agents see them
            # (the database's links table lags by the agents' link sync).
            "lldp": [
                {"port": n.local_port, "remote": n.remote_name, "remote_port": n.remote_port}
                for n in self.neighbours
            ],
            "polls": self.polls,
            "config": self.config,
            "problems": dict(self.problems),
            "engine_id": self.engine_id,
            "engine_source": self.engine_source,
            "context": self.context,
        }

    def detail(self) -> dict[str, object]:
        """Everything known of the NE as JSON-ready data (``emspool ne show``): every field,
        so one added to NeState shows up without touching this; interfaces in ifIndex
        order with their effective status."""
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out["interfaces"] = [
            _plain(i) | {"status": status_of(i).value}  # type: ignore[operator]
            for _, i in sorted(self.interfaces.items())
        ]
        out["interfaces_down"] = self.summary()["interfaces_down"]
        return out


def _plain(v: object) -> object:
    """Dataclasses, enums, sets and maps as JSON-ready values (map keys become text)."""
    if isinstance(v, enum.Enum):
        return v.value
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, set | frozenset):
        return sorted(_plain(x) for x in v)  # type: ignore[type-var]
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


@dataclass(frozen=True, slots=True)
class AlarmKey:
    """Identity of a nodal alarm: NE + managed object + alarm type."""

    ne: str
    obj: str
    type: str

    def __str__(self) -> str:
        return f"{self.ne}/{self.obj or '-'}/{self.type}"


class AlarmType:
    """Alarm types emspool raises itself (trap-derived ones reuse these)."""

    NE_UNREACHABLE = "ne-unreachable"
    LINK_DOWN = "link-down"
    DEVICE_RESTART = "device-restart"


class EventType:
    ALARM_RAISED = "alarm-raised"
    ALARM_CLEARED = "alarm-cleared"
    ALARM_CHANGED = "alarm-changed"  # severity or text of a raised alarm changed
    ALARM_ACKED = "alarm-acked"
    ALARM_UNACKED = "alarm-unacked"
    ALARM_NOTE = "alarm-note"  # an operator's note on a standing alarm (shared/notes.py)
    NE_REACHABLE = "ne-reachable"
    NE_UNREACHABLE = "ne-unreachable"
    TRAP = "trap"  # a trap that maps to no alarm
    AGENT = "agent"  # agent lifecycle (start, stop, assignment)


def time_ordered_uuid(seconds: float) -> str:
    """A UUIDv7-layout id (RFC 9562): 48-bit milliseconds, then random bits.

    Ids that grow with time land at the end of the event log's primary-key index instead
    of all over it; with random UUIDs every batch dirtied a page per row and the commit,
    not the insert, was most of the cost of writing the log.
    """
    ms = max(0, int(seconds * 1000)) & ((1 << 48) - 1)
    rand = uuid.uuid4().int
    value = (ms << 80) | (0x7 << 76) | ((rand >> 64) & 0xFFF) << 64 | (0b10 << 62)
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


@dataclass(frozen=True, slots=True)
class Event:
    """One event-log row. The UUID makes replays from the outbox idempotent."""

    time: float
    ne: str
    type: str
    severity: Severity
    text: str
    agent: str
    obj: str = ""
    alarm_type: str = ""
    id: str = ""  # empty: a time-ordered UUID is made from ``time``

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", time_ordered_uuid(self.time))

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.time,
            "ne": self.ne,
            "type": self.type,
            "severity": self.severity.label,
            "text": self.text,
            "agent": self.agent,
            "obj": self.obj,
            "alarm_type": self.alarm_type,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Event:
        return cls(
            id=str(d["id"]),
            time=float(d["time"]),  # type: ignore[arg-type]
            ne=str(d["ne"]),
            type=str(d["type"]),
            severity=Severity.parse(str(d["severity"])),
            text=str(d["text"]),
            agent=str(d["agent"]),
            obj=str(d.get("obj", "")),
            alarm_type=str(d.get("alarm_type", "")),
        )

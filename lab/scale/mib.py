"""What one scale device answers: a MIB view shared by every device of one shape, plus the
little each device owns (name, clock, faults, LLDP neighbours).

The snmpsim lab renders one ``.snmprec`` per device; for thousands of devices in one process
that would cost a sorted table per device. Here a ``Template`` (one per device shape: kind,
port count and which upper ports carry links) holds the sorted OIDs of the system group,
ifTable, ifXTable and lldpLocPortTable once, each with a getter that computes the value for
one device at one uptime; a device holds only its LLDP remote rows (built when asked, kept in
a small cache). The data follows ``lab.recording``: the same port roles (``recording.plan``),
names, speeds, a management port with only 32-bit counters on switches, VLAN
sub-interfaces on routers, counters growing at per-port rates from the device's start.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.usm import Keys
from lab import recording
from lab.recording import (
    DOWN,
    ENTERPRISE,
    LOWER_LAYER_DOWN,
    MGMT_RATE,
    MGMT_SPEED,
    MGMT_WRAP_AFTER,
    NOT_PRESENT,
    UP,
    Port,
    if_descr,
    if_name,
)
from lab.topology import ROUTER
from shared.smi import Counter32, Counter64, Gauge32, Oid, ResponseValue, TimeTicks

# A getter computes one value for one device, given the device's uptime in seconds.
Getter = Callable[["Device", float], ResponseValue]

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
LLDP_LOC = (1, 0, 8802, 1, 1, 2, 1, 3)
LLDP_REM_ENTRY = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)
_LLDP_REM_END = (*LLDP_REM_ENTRY[:-1], LLDP_REM_ENTRY[-1] + 1)  # past every remote row
_TWO32, _TWO64 = 1 << 32, 1 << 64
# LLDP remote rows kept built at once (a full poll walks them in two or three requests).
REM_CACHE = 512


@dataclass(frozen=True, slots=True)
class Neighbour:
    local_port: int
    name: str
    kind: str
    port: int


@dataclass(slots=True, eq=False)
class Device:
    """One simulated NE: identity, clock, faults, and what it answered (for the benches)."""

    name: str
    kind: str
    ports: int
    address: str
    v3: bool
    engine_id: bytes
    template: Template
    neighbours: tuple[Neighbour, ...] = ()
    digest: bytes = b""  # sha256(name): per-port rates and MACs without hashing per request
    started: float = 0.0  # wall clock of the last (re)start: sysUpTime counts from it
    boots: int = 1  # snmpEngineBoots: one more per restart
    oper_down: set[int] = field(default_factory=set)
    last_change: dict[int, int] = field(default_factory=dict)  # ifIndex -> TimeTicks
    unreachable: bool = False
    delay: float = 0.0  # seconds added to every answer ("slow")
    # What it answered: the last request's time, how many, and since the last mark the first
    # request's time and the source ports (each agent polls from its own socket).
    last_request: float = 0.0
    requests: int = 0
    first_since_mark: float = 0.0
    sources_since_mark: set[int] = field(default_factory=set)
    keys: Keys | None = None  # the lab user's USM keys localized to this engine (v3), once

    def __post_init__(self) -> None:
        self.digest = hashlib.sha256(self.name.encode()).digest()

    def linked(self, ifindex: int) -> Neighbour | None:
        for n in self.neighbours:
            if n.local_port == ifindex:
                return n
        return None

    def rates(self, ifindex: int) -> tuple[int, int]:
        """(octets/s in, out) of a port carrying traffic; deterministic per device."""
        d = self.digest
        return 100_000 + d[ifindex % 32] * 20_000, 100_000 + d[(ifindex + 16) % 32] * 20_000

    def mac(self, ifindex: int = 0) -> bytes:
        """Locally administered, as ``recording.mac`` lays it out (ifindex 0 = chassis)."""
        return b"\x02" + self.digest[:4] + bytes((ifindex % 256,))


def _oper(port: Port, dev: Device, by_index: dict[int, Port]) -> int:
    if port.role == "sub":
        return UP if _oper(by_index[port.parent], dev, by_index) == UP else LOWER_LAYER_DOWN
    if port.role == "empty":
        return NOT_PRESENT
    if port.role in ("unconnected", "spare") or port.index in dev.oper_down:
        return DOWN
    return UP


class Template:
    """The sorted MIB view of every device of one shape, values computed per device."""

    def __init__(self, kind: str, ports: int, linked_upper: frozenset[int]) -> None:
        self.kind = kind
        facts = recording.DeviceFacts(
            name="", kind=kind, ports=ports, neighbours={i: _ANY for i in linked_upper}
        )
        self.plan = recording.plan(facts)
        rows = self._system() + self._interfaces() + self._lldp_local()
        rows.sort(key=lambda r: r[0])
        self.oids: list[Oid] = [r[0] for r in rows]
        self.getters: list[Getter] = [r[1] for r in rows]
        self.index: dict[Oid, int] = {o: k for k, o in enumerate(self.oids)}

    def _system(self) -> list[tuple[Oid, Getter]]:
        router = self.kind == ROUTER
        ports = len([p for p in self.plan if p.role not in ("mgmt", "sub")])
        descr = (
            f"Emspool Lab Router ER-{ports}, software 7.4.2"
            if router
            else f"Emspool Lab Switch ES-{ports}, software 3.1.9"
        )
        obj = tuple(int(x) for x in ENTERPRISE.split(".")) + ((1, 1) if router else (1, 2))
        services = 78 if router else 6
        return [
            ((*SYSTEM, 1, 0), _const(descr)),
            ((*SYSTEM, 2, 0), _const(obj)),
            ((*SYSTEM, 3, 0), lambda d, up: TimeTicks(int(up * 100) % _TWO32)),
            ((*SYSTEM, 4, 0), _const("noc@lab.example")),
            ((*SYSTEM, 5, 0), lambda d, up: d.name),
            ((*SYSTEM, 6, 0), _const("emspool scale lab, loopback rack")),
            ((*SYSTEM, 7, 0), _const(services)),
            (IF_NUMBER, _const(len(self.plan))),
        ]

    def _interfaces(self) -> list[tuple[Oid, Getter]]:
        rows: list[tuple[Oid, Getter]] = []
        router = self.kind == ROUTER
        by_index = {p.index: p for p in self.plan}

        def oper(d: Device, i: int) -> ResponseValue:
            return _oper(by_index[i], d, by_index)

        for p in self.plan:
            i, mgmt = p.index, p.role == "mgmt"
            carries = p.role in ("in-use", "mgmt", "sub")
            if mgmt:
                speed, high = MGMT_SPEED, 10
            elif router:
                speed, high = 4294967295, 10000
            else:
                speed, high = 1_000_000_000, 1000
            base_in = _TWO32 - MGMT_RATE * MGMT_WRAP_AFTER if mgmt else 1000 + i
            base_out = _TWO32 - MGMT_RATE * (MGMT_WRAP_AFTER + 2) if mgmt else 2000 + i
            rate = _rate_getter(p)
            cols: list[tuple[int, Getter]] = [
                (1, _const(i)),
                (2, _const(p.descr)),
                (3, _const(recording.L2VLAN if p.role == "sub" else recording.ETHERNET_CSMACD)),
                (4, _const(9192 if router else 1500)),
                (5, _const(Gauge32(speed))),
                (6, _per_port(i, lambda d, i: d.mac(i))),
                (recording.IF_ADMIN_STATUS, _const(DOWN if p.role == "spare" else UP)),
                (
                    recording.IF_OPER_STATUS,
                    _per_port(i, lambda d, i: _oper(by_index[i], d, by_index)),
                ),
                (recording.IF_LAST_CHANGE, _per_port(i, _last_change)),
                (10, _counter32(rate, 0, base_in) if carries else _const(Counter32(base_in))),
                (11, _counter32(rate, 0, 10 + i, scale=500) if carries else _zero32(10 + i)),
                (13, _zero32(0)),
                (14, _errors(i)),
                (16, _counter32(rate, 1, base_out) if carries else _const(Counter32(base_out))),
                (17, _counter32(rate, 1, 20 + i, scale=500) if carries else _zero32(20 + i)),
                (19, _zero32(0)),
                (20, _errors(i)),
            ]
            rows += [((*IF_ENTRY, col, i), get) for col, get in cols]
            xcols: list[tuple[int, Getter]] = [(1, _const(p.name))]
            if not mgmt:  # <= 20 Mb/s: no HC counters (RFC 2863)
                xcols += [
                    (6, _counter64(rate, 0, 1000 + i) if carries else _const(Counter64(1000 + i))),
                    (10, _counter64(rate, 1, 2000 + i) if carries else _const(Counter64(2000 + i))),
                ]
            xcols += [
                (15, _const(Gauge32(high))),
                (18, _per_port(i, _alias)),
                (19, _const(TimeTicks(0))),
            ]
            rows += [((*IFX_ENTRY, col, i), get) for col, get in xcols]
        return rows

    def _lldp_local(self) -> list[tuple[Oid, Getter]]:
        rows: list[tuple[Oid, Getter]] = [
            ((*LLDP_LOC, 1, 0), _const(recording.CHASSIS_SUBTYPE_MAC)),
            ((*LLDP_LOC, 2, 0), lambda d, up: d.mac()),
            ((*LLDP_LOC, 3, 0), lambda d, up: d.name),
        ]
        physical = [p for p in self.plan if p.role not in ("mgmt", "sub")]
        for p in physical:
            i = p.index
            rows += [
                ((*LLDP_LOC, 7, 1, 2, i), _const(recording.PORT_SUBTYPE_IFNAME)),
                ((*LLDP_LOC, 7, 1, 3, i), _const(if_name(self.kind, i))),
                ((*LLDP_LOC, 7, 1, 4, i), _const(if_descr(self.kind, i))),
            ]
        return rows


_ANY = recording.RemoteEnd("", ROUTER, 1)


def _const(value: ResponseValue) -> Getter:
    def get(d: Device, up: float) -> ResponseValue:
        return value

    return get


def _per_port(i: int, value: Callable[[Device, int], ResponseValue]) -> Getter:
    def get(d: Device, up: float) -> ResponseValue:
        return value(d, i)

    return get


def _last_change(d: Device, i: int) -> ResponseValue:
    return TimeTicks(d.last_change.get(i, 0))


def _zero32(value: int) -> Getter:
    return _const(Counter32(value))


Rate = Callable[[Device], tuple[int, int]]


def _rate_getter(p: Port) -> Rate:
    i = p.index

    def mgmt(d: Device) -> tuple[int, int]:
        return MGMT_RATE, MGMT_RATE

    def sub(d: Device) -> tuple[int, int]:
        rin, rout = d.rates(i)
        return rin // 4, rout // 4

    def port(d: Device) -> tuple[int, int]:
        return d.rates(i)

    return mgmt if p.role == "mgmt" else sub if p.role == "sub" else port


def _counter32(rate: Rate, way: int, initial: int, scale: int = 1) -> Getter:
    def get(d: Device, up: float) -> ResponseValue:
        return Counter32((initial + int(rate(d)[way] // scale * up)) % _TWO32)

    return get


def _counter64(rate: Rate, way: int, initial: int) -> Getter:
    def get(d: Device, up: float) -> ResponseValue:
        return Counter64((initial + int(rate(d)[way] * up)) % _TWO64)

    return get


def _errors(i: int) -> Getter:
    # One error a second on every fifth linked port, as the recordings have it.
    def get(d: Device, up: float) -> ResponseValue:
        return Counter32(int(up) % _TWO32 if i % 5 == 0 and d.linked(i) else 0)

    return get


def _alias(d: Device, i: int) -> ResponseValue:
    n = d.linked(i)
    return f"to {n.name} {if_name(n.kind, n.port)}" if n else ""


def template_key(
    kind: str, ports: int, neighbours: tuple[Neighbour, ...]
) -> tuple[str, int, frozenset[int]]:
    """Devices whose plan (``recording.plan``) is the same share a template: links on the
    lower half of the ports change nothing, links above it turn spares into ports in use."""
    return (kind, ports, frozenset(n.local_port for n in neighbours if n.local_port > ports // 2))


class RemoteRows:
    """lldpRemTable rows per device, built on demand; the last ``REM_CACHE`` devices kept."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, tuple[list[Oid], list[ResponseValue]]] = OrderedDict()

    def rows(self, dev: Device) -> tuple[list[Oid], list[ResponseValue]]:
        got = self._cache.get(dev.name)
        if got is not None:
            self._cache.move_to_end(dev.name)
            return got
        rows: list[tuple[Oid, ResponseValue]] = []
        for n in dev.neighbours:
            digest = hashlib.sha256(n.name.encode()).digest()
            values: dict[int, ResponseValue] = {
                4: recording.CHASSIS_SUBTYPE_MAC,
                5: b"\x02" + digest[:4] + b"\x00",
                6: recording.PORT_SUBTYPE_IFNAME,
                7: if_name(n.kind, n.port),
                8: if_descr(n.kind, n.port),
                9: n.name,
            }
            rows += [((*LLDP_REM_ENTRY, col, 0, n.local_port, 1), v) for col, v in values.items()]
        rows.sort(key=lambda r: r[0])
        got = ([r[0] for r in rows], [r[1] for r in rows])
        self._cache[dev.name] = got
        if len(self._cache) > REM_CACHE:
            self._cache.popitem(last=False)
        return got

    def forget(self, name: str) -> None:
        self._cache.pop(name, None)


class View:
    """GET and GETNEXT over a device's whole MIB: its template, then its LLDP remote rows."""

    def __init__(self) -> None:
        self.remote = RemoteRows()

    def get(self, dev: Device, oid: Oid, up: float) -> ResponseValue | None:
        t = dev.template
        k = t.index.get(oid)
        if k is not None:
            return t.getters[k](dev, up)
        if oid[: len(LLDP_REM_ENTRY)] == LLDP_REM_ENTRY:
            oids, values = self.remote.rows(dev)
            j = bisect.bisect_left(oids, oid)
            if j < len(oids) and oids[j] == oid:
                return values[j]
        return None

    def next(self, dev: Device, oid: Oid, up: float) -> tuple[Oid, ResponseValue] | None:
        """The first (OID, value) after ``oid``; None at the end of the MIB view."""
        t = dev.template
        k = bisect.bisect_right(t.oids, oid)
        best = t.oids[k] if k < len(t.oids) else None
        # lldpRemTable sits between lldpLocPortTable and the system group: only look there
        # when the template's next OID is past it.
        if (best is None or best > LLDP_REM_ENTRY) and oid < _LLDP_REM_END:
            oids, values = self.remote.rows(dev)
            j = bisect.bisect_right(oids, oid)
            if j < len(oids) and (best is None or oids[j] < best):
                return oids[j], values[j]
        if best is None:
            return None
        return best, t.getters[k](dev, up)

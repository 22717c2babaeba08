"""Render one simulated device as an snmpsim ``.snmprec`` recording (pure, no I/O).

Lines are ``OID|TAG|VALUE`` sorted by numeric OID, as snmpsim expects. Growing
values use snmpsim's ``numeric`` variation module, which computes
``initial + rate * (now - process start)``: sysUpTime and counters therefore
restart from their initial value when the device process restarts.

The devices look like real ones on a bench, not like a tidy spreadsheet (see ``plan``):
besides the ports in use and the admin-down spares, a share of ports is admin up but never
connected (down from the start), switches have empty SFP cages (notPresent) and a 10 Mb/s
management port with only 32-bit counters (RFC 2863 lets interfaces of 20 Mb/s or less omit
ifHCInOctets/ifHCOutOctets; its Counter32s wrap ``MGMT_WRAP_AFTER`` s after boot), and
routers carry VLAN sub-interfaces that follow their parent (lowerLayerDown when it is not up).

Quirks reproduce real agents' departures from the rules. ``lldp-by-port``: the agent
serves lldpRemTable in its own order, local port by local port, although the table is indexed
by lldpRemTimeMark first, and each neighbour's timemark is when it was learnt; a GETNEXT
walk then meets non-increasing OIDs (seen on SONiC's agent, sonic-snmpagent PR 78). snmpsim
answers a GETNEXT on an existing OID with the next line of the file, so writing those rows
in the device's order is all it takes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from lab.topology import ROUTER

# IANA example enterprise (RFC 5612): fine for a simulator, clashes with no vendor.
ENTERPRISE = "1.3.6.1.4.1.32473"

SYSTEM = "1.3.6.1.2.1.1"
IF_NUMBER = "1.3.6.1.2.1.2.1.0"
IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"
LLDP_LOC = "1.0.8802.1.1.2.1.3"
LLDP_REM_ENTRY = "1.0.8802.1.1.2.1.4.1.1"

# Column numbers, named for the tests and the fault code that touch them.
IF_ADMIN_STATUS = 7
IF_OPER_STATUS = 8
IF_LAST_CHANGE = 9

UP, DOWN, NOT_PRESENT, LOWER_LAYER_DOWN = 1, 2, 6, 7
CHASSIS_SUBTYPE_MAC = 4
PORT_SUBTYPE_IFNAME = 5
ETHERNET_CSMACD, L2VLAN = 6, 135  # IANAifType

LLDP_BY_PORT = "lldp-by-port"
QUIRKS = {LLDP_BY_PORT: "serves lldpRemTable by local port, so timemark indexes go back"}

# Seconds after the device process starts at which the management port's Counter32s wrap.
MGMT_WRAP_AFTER = 15
MGMT_IFINDEX = 5001
MGMT_SPEED = 10_000_000
MGMT_RATE = 100_000  # octets/s each way: 0.8 Mb/s of management traffic


@dataclass(frozen=True, slots=True)
class RemoteEnd:
    name: str
    kind: str
    port: int


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """Everything a recording depends on; the fault code changes only the last two."""

    name: str
    kind: str
    ports: int
    neighbours: dict[int, RemoteEnd] = field(default_factory=dict)
    oper_down: frozenset[int] = frozenset()
    last_change: dict[int, int] = field(default_factory=dict)  # ifIndex -> TimeTicks
    quirks: frozenset[str] = frozenset()  # keys of QUIRKS


@dataclass(frozen=True, slots=True)
class Port:
    """One row of the device's ifTable as it boots (before faults)."""

    index: int
    name: str
    descr: str
    role: str  # "in-use", "unconnected" (admin up, no cable), "spare" (admin down),
    # "empty" (an SFP cage without transceiver), "mgmt", "sub" (VLAN sub-interface)
    parent: int = 0  # "sub": the ifIndex it rides on


def mac(name: str, ifindex: int = 0) -> str:
    """Deterministic locally administered MAC (hex, no separators); ifindex 0 = chassis."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"02{digest[:8]}{ifindex:02x}"


def if_name(kind: str, ifindex: int) -> str:
    return f"ge-0/0/{ifindex - 1}" if kind == ROUTER else f"Ethernet1/{ifindex}"


def if_descr(kind: str, ifindex: int) -> str:
    if kind == ROUTER:
        return f"GigabitEthernet ge-0/0/{ifindex - 1}"
    return f"Ethernet1/{ifindex} 1000BASE-T"


def plan(facts: DeviceFacts) -> list[Port]:
    """Every interface of the device, physical ports first, by role (see the module doc).

    The lower half of the ports serve hosts or links; of the rest a quarter is admin up and
    never connected, switches keep their last 4 ports as empty SFP cages, and the others are
    admin-down spares. Roles never take a port that has a link in the topology.
    """
    n, switch = facts.ports, facts.kind != ROUTER
    unconnected = range(n // 2 + 1, n // 2 + 1 + max(1, n // 8))
    empty = range(n - 3, n + 1) if switch else range(0)
    ports: list[Port] = []
    for i in range(1, n + 1):
        if i in facts.neighbours or i <= n // 2:
            role = "in-use"
        elif i in unconnected:
            role = "unconnected"
        elif i in empty:
            role = "empty"
        else:
            role = "spare"
        ports.append(Port(i, if_name(facts.kind, i), if_descr(facts.kind, i), role))
    if switch:
        ports.append(Port(MGMT_IFINDEX, "Management0", "Management0 10BASE-T", "mgmt"))
    else:
        # VLAN units on an in-use port and on a never-connected one (Cisco-style ifIndex
        # numbering after the physical ports).
        for k, parent in enumerate((2, unconnected[0])):
            unit = f"{if_name(facts.kind, parent)}.{100 + k}"
            ports.append(Port(n + 1 + k, unit, f"{unit} VLAN {100 + k}", "sub", parent))
    return ports


def _oper(port: Port, facts: DeviceFacts, by_index: dict[int, Port]) -> int:
    if port.role == "sub":
        parent = by_index[port.parent]
        return UP if _oper(parent, facts, by_index) == UP else LOWER_LAYER_DOWN
    if port.role == "empty":
        return NOT_PRESENT
    if port.role in ("unconnected", "spare") or port.index in facts.oper_down:
        return DOWN
    return UP


def _rates(name: str, ifindex: int) -> tuple[int, int]:
    """Per-port (octets/s in, out): deterministic so reruns look the same."""
    digest = hashlib.sha256(f"{name}/{ifindex}".encode()).digest()
    return 100_000 + digest[0] * 20_000, 100_000 + digest[1] * 20_000


def _system(facts: DeviceFacts) -> list[tuple[str, str, str]]:
    if facts.kind == ROUTER:
        descr = f"Emspool Lab Router ER-{facts.ports}, software 7.4.2"
        obj, services = f"{ENTERPRISE}.1.1", "78"
    else:
        descr = f"Emspool Lab Switch ES-{facts.ports}, software 3.1.9"
        obj, services = f"{ENTERPRISE}.1.2", "6"
    return [
        (f"{SYSTEM}.1.0", "4", descr),
        (f"{SYSTEM}.2.0", "6", obj),
        (f"{SYSTEM}.3.0", "67:numeric", "rate=100,initial=0"),
        (f"{SYSTEM}.4.0", "4", "noc@lab.example"),
        (f"{SYSTEM}.5.0", "4", facts.name),
        (f"{SYSTEM}.6.0", "4", "emspool lab, loopback rack"),
        (f"{SYSTEM}.7.0", "2", services),
    ]


def _counter(rate: int, initial: int) -> tuple[str, str]:
    return "65:numeric", f"rate={rate},initial={initial},wrap=1"


def _interfaces(facts: DeviceFacts) -> list[tuple[str, str, str]]:
    ports = plan(facts)
    by_index = {p.index: p for p in ports}
    rows: list[tuple[str, str, str]] = [(IF_NUMBER, "2", str(len(ports)))]
    router = facts.kind == ROUTER
    for p in ports:
        i = p.index
        linked = i in facts.neighbours
        oper = _oper(p, facts, by_index)
        admin = DOWN if p.role == "spare" else UP
        carries = p.role in ("in-use", "mgmt", "sub")
        rin, rout = _rates(facts.name, i) if carries else (0, 0)
        if p.role == "sub":
            rin, rout = rin // 4, rout // 4
        mgmt = p.role == "mgmt"
        if mgmt:
            rin = rout = MGMT_RATE
        pkt_in, pkt_out = rin // 500, rout // 500
        err = 1 if linked and i % 5 == 0 else 0
        if mgmt:
            speed, high = str(MGMT_SPEED), "10"
        elif router:
            speed, high = "4294967295", "10000"
        else:
            speed, high = "1000000000", "1000"
        # The management port's Counter32s start close to 2^32 and wrap MGMT_WRAP_AFTER s
        # after the process starts, so a test can watch a wrap.
        base_in = 2**32 - MGMT_RATE * MGMT_WRAP_AFTER if mgmt else 1000 + i
        base_out = 2**32 - MGMT_RATE * (MGMT_WRAP_AFTER + 2) if mgmt else 2000 + i
        cols: list[tuple[int, str, str]] = [
            (1, "2", str(i)),
            (2, "4", p.descr),
            (3, "2", str(L2VLAN if p.role == "sub" else ETHERNET_CSMACD)),
            (4, "2", "9192" if router else "1500"),
            (5, "66", speed),
            (6, "4x", mac(facts.name, i % 256)),
            (IF_ADMIN_STATUS, "2", str(admin)),
            (IF_OPER_STATUS, "2", str(oper)),
            (IF_LAST_CHANGE, "67", str(facts.last_change.get(i, 0))),
            (10, *_counter(rin, base_in)),
            (11, *_counter(pkt_in, 10 + i)),
            (13, *_counter(0, 0)),
            (14, *_counter(err, 0)),
            (16, *_counter(rout, base_out)),
            (17, *_counter(pkt_out, 20 + i)),
            (19, *_counter(0, 0)),
            (20, *_counter(err, 0)),
        ]
        rows += [(f"{IF_ENTRY}.{col}.{i}", tag, value) for col, tag, value in cols]
        remote = facts.neighbours.get(i)
        alias = f"to {remote.name} {if_name(remote.kind, remote.port)}" if remote else ""
        xcols: list[tuple[int, str, str]] = [(1, "4", p.name)]
        if not mgmt:  # <= 20 Mb/s: no HC counters (RFC 2863)
            xcols += [
                (6, "70:numeric", f"rate={rin},initial={1000 + i}"),
                (10, "70:numeric", f"rate={rout},initial={2000 + i}"),
            ]
        xcols += [(15, "66", high), (18, "4", alias), (19, "67", "0")]
        rows += [(f"{IFX_ENTRY}.{col}.{i}", tag, value) for col, tag, value in xcols]
    return rows


def _lldp(facts: DeviceFacts) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(rows to sort, lldpRemTable rows already in the order the agent serves them)."""
    rows: list[tuple[str, str, str]] = [
        (f"{LLDP_LOC}.1.0", "2", str(CHASSIS_SUBTYPE_MAC)),
        (f"{LLDP_LOC}.2.0", "4x", mac(facts.name)),
        (f"{LLDP_LOC}.3.0", "4", facts.name),
    ]
    for i in range(1, facts.ports + 1):
        rows += [
            (f"{LLDP_LOC}.7.1.2.{i}", "2", str(PORT_SUBTYPE_IFNAME)),
            (f"{LLDP_LOC}.7.1.3.{i}", "4", if_name(facts.kind, i)),
            (f"{LLDP_LOC}.7.1.4.{i}", "4", if_descr(facts.kind, i)),
        ]
    by_port = LLDP_BY_PORT in facts.quirks
    remote_rows: list[tuple[str, str, str]] = []
    for col in (4, 5, 6, 7, 8, 9):
        for local in sorted(facts.neighbours):
            remote = facts.neighbours[local]
            # Index lldpRemTimeMark.lldpRemLocalPortNum.lldpRemIndex; one neighbour per port.
            # The timemark is 0 (as many agents report it) or, on the by-port agent, the
            # sysUpTime when the neighbour was learnt: the higher ports came up first.
            timemark = 9000 - 100 * local if by_port else 0
            value = {
                4: ("2", str(CHASSIS_SUBTYPE_MAC)),
                5: ("4x", mac(remote.name)),
                6: ("2", str(PORT_SUBTYPE_IFNAME)),
                7: ("4", if_name(remote.kind, remote.port)),
                8: ("4", if_descr(remote.kind, remote.port)),
                9: ("4", remote.name),
            }[col]
            remote_rows.append((f"{LLDP_REM_ENTRY}.{col}.{timemark}.{local}.1", *value))
    if by_port:
        return rows, remote_rows
    return rows + remote_rows, []


def _oid_key(row: tuple[str, str, str]) -> tuple[int, ...]:
    return tuple(int(part) for part in row[0].split("."))


def render(facts: DeviceFacts) -> str:
    unknown = facts.quirks - QUIRKS.keys()
    if unknown:
        raise ValueError(f"unknown quirk(s) {sorted(unknown)} (known: {', '.join(QUIRKS)})")
    lldp, served_as_is = _lldp(facts)
    rows = _system(facts) + _interfaces(facts) + lldp
    rows.sort(key=_oid_key)
    if served_as_is:
        # The block goes where its first OID sorts, in the agent's own order inside.
        at = next(
            (k for k, r in enumerate(rows) if _oid_key(r) > _oid_key(served_as_is[0])), len(rows)
        )
        rows[at:at] = served_as_is
    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in rows)

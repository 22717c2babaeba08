"""Render one simulated device as an snmpsim ``.snmprec`` recording (pure, no I/O).

Lines are ``OID|TAG|VALUE`` sorted by numeric OID, as snmpsim requires. Growing
values use snmpsim's ``numeric`` variation module, which computes
``initial + rate * (now - process start)``: sysUpTime and counters therefore
restart from their initial value when the device process restarts.
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

UP, DOWN = 1, 2
CHASSIS_SUBTYPE_MAC = 4
PORT_SUBTYPE_IFNAME = 5


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
    rows: list[tuple[str, str, str]] = [(IF_NUMBER, "2", str(facts.ports))]
    router = facts.kind == ROUTER
    for i in range(1, facts.ports + 1):
        linked = i in facts.neighbours
        # The lower half of the ports serve hosts (no LLDP neighbour in the lab); the
        # rest are unused and admin down, as on a tidy real box: they raise no alarms.
        in_use = linked or i <= facts.ports // 2
        admin = UP if in_use else DOWN
        oper = DOWN if (i in facts.oper_down or not in_use) else UP
        rin, rout = _rates(facts.name, i) if in_use else (0, 0)
        pkt_in, pkt_out = rin // 500, rout // 500
        err = 1 if linked and i % 5 == 0 else 0
        cols: list[tuple[int, str, str]] = [
            (1, "2", str(i)),
            (2, "4", if_descr(facts.kind, i)),
            (3, "2", "6"),
            (4, "2", "9192" if router else "1500"),
            (5, "66", "4294967295" if router else "1000000000"),
            (6, "4x", mac(facts.name, i)),
            (IF_ADMIN_STATUS, "2", str(admin)),
            (IF_OPER_STATUS, "2", str(oper)),
            (IF_LAST_CHANGE, "67", str(facts.last_change.get(i, 0))),
            (10, *_counter(rin, 1000 + i)),
            (11, *_counter(pkt_in, 10 + i)),
            (13, *_counter(0, 0)),
            (14, *_counter(err, 0)),
            (16, *_counter(rout, 2000 + i)),
            (17, *_counter(pkt_out, 20 + i)),
            (19, *_counter(0, 0)),
            (20, *_counter(err, 0)),
        ]
        rows += [(f"{IF_ENTRY}.{col}.{i}", tag, value) for col, tag, value in cols]
        remote = facts.neighbours.get(i)
        alias = f"to {remote.name} {if_name(remote.kind, remote.port)}" if remote else ""
        xcols: list[tuple[int, str, str]] = [
            (1, "4", if_name(facts.kind, i)),
            (6, "70:numeric", f"rate={rin},initial={1000 + i}"),
            (10, "70:numeric", f"rate={rout},initial={2000 + i}"),
            (15, "66", "10000" if router else "1000"),
            (18, "4", alias),
        ]
        rows += [(f"{IFX_ENTRY}.{col}.{i}", tag, value) for col, tag, value in xcols]
    return rows


def _lldp(facts: DeviceFacts) -> list[tuple[str, str, str]]:
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
    for local, remote in facts.neighbours.items():
        # Index lldpRemTimeMark.lldpRemLocalPortNum.lldpRemIndex; one neighbour per port.
        index = f"0.{local}.1"
        cols = [
            (4, "2", str(CHASSIS_SUBTYPE_MAC)),
            (5, "4x", mac(remote.name)),
            (6, "2", str(PORT_SUBTYPE_IFNAME)),
            (7, "4", if_name(remote.kind, remote.port)),
            (8, "4", if_descr(remote.kind, remote.port)),
            (9, "4", remote.name),
        ]
        rows += [(f"{LLDP_REM_ENTRY}.{col}.{index}", tag, value) for col, tag, value in cols]
    return rows


def _oid_key(row: tuple[str, str, str]) -> tuple[int, ...]:
    return tuple(int(part) for part in row[0].split("."))


def render(facts: DeviceFacts) -> str:
    rows = _system(facts) + _interfaces(facts) + _lldp(facts)
    rows.sort(key=_oid_key)
    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in rows)

"""The few MIB objects emspool polls, and pure parsers from walk rows to our types.

Walk rows arrive as ``(oid, value)`` with plain Python values (int, bytes,
OID tuple, str, None) from the SNMP adapter, so this module never sees pysnmp.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .model import InterfaceState, Neighbour, OperStatus

Oid = tuple[int, ...]
Value = int | bytes | tuple[int, ...] | str | None
Row = tuple[Oid, Value]


def oid(text: str) -> Oid:
    return tuple(int(p) for p in text.strip(".").split("."))


def dotted(o: Oid) -> str:
    return ".".join(map(str, o))


SYS_DESCR = oid("1.3.6.1.2.1.1.1.0")
SYS_UPTIME = oid("1.3.6.1.2.1.1.3.0")
SYS_NAME = oid("1.3.6.1.2.1.1.5.0")

IF_ENTRY = oid("1.3.6.1.2.1.2.2.1")
IF_INDEX = (*IF_ENTRY, 1)
IF_DESCR = (*IF_ENTRY, 2)
IF_SPEED = (*IF_ENTRY, 5)
IF_ADMIN_STATUS = (*IF_ENTRY, 7)
IF_OPER_STATUS = (*IF_ENTRY, 8)
IF_IN_OCTETS = (*IF_ENTRY, 10)
IF_IN_ERRORS = (*IF_ENTRY, 14)
IF_OUT_OCTETS = (*IF_ENTRY, 16)
IF_OUT_ERRORS = (*IF_ENTRY, 20)

IFX_ENTRY = oid("1.3.6.1.2.1.31.1.1.1")
IF_NAME = (*IFX_ENTRY, 1)
IF_HC_IN_OCTETS = (*IFX_ENTRY, 6)
IF_HC_OUT_OCTETS = (*IFX_ENTRY, 10)
IF_HIGH_SPEED = (*IFX_ENTRY, 15)

LLDP_LOC_PORT_ID = oid("1.0.8802.1.1.2.1.3.7.1.3")
LLDP_LOC_PORT_DESC = oid("1.0.8802.1.1.2.1.3.7.1.4")
LLDP_REM_ENTRY = oid("1.0.8802.1.1.2.1.4.1.1")
LLDP_REM_CHASSIS_ID = (*LLDP_REM_ENTRY, 5)
LLDP_REM_PORT_ID = (*LLDP_REM_ENTRY, 7)
LLDP_REM_SYS_NAME = (*LLDP_REM_ENTRY, 9)

# SNMPv2-MIB notifications (RFC 3418) and the varbinds that go with them.
SNMP_TRAP_OID = oid("1.3.6.1.6.3.1.1.4.1.0")
TRAP_COLD_START = oid("1.3.6.1.6.3.1.1.5.1")
TRAP_WARM_START = oid("1.3.6.1.6.3.1.1.5.2")
TRAP_LINK_DOWN = oid("1.3.6.1.6.3.1.1.5.3")
TRAP_LINK_UP = oid("1.3.6.1.6.3.1.1.5.4")

# IF-MIB ifOperStatus values (RFC 2863); anything else a device sends reads as unknown.
IF_OPER_STATUS_VALUES: Mapping[int, OperStatus] = {
    1: OperStatus.UP,
    2: OperStatus.DOWN,
    3: OperStatus.TESTING,
    4: OperStatus.UNKNOWN,
    5: OperStatus.DORMANT,
    6: OperStatus.NOT_PRESENT,
    7: OperStatus.LOWER_LAYER_DOWN,
}

# Columns walked on every cycle (status and counters) ...
FAST_COLUMNS_HC: tuple[Oid, ...] = (
    IF_ADMIN_STATUS,
    IF_OPER_STATUS,
    IF_IN_ERRORS,
    IF_OUT_ERRORS,
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
)
FAST_COLUMNS_32: tuple[Oid, ...] = (
    IF_ADMIN_STATUS,
    IF_OPER_STATUS,
    IF_IN_ERRORS,
    IF_OUT_ERRORS,
    IF_IN_OCTETS,
    IF_OUT_OCTETS,
)
# ... and the slowly changing ones (names, speeds) refreshed with LLDP.
SLOW_COLUMNS: tuple[Oid, ...] = (IF_DESCR, IF_SPEED, IF_NAME, IF_HIGH_SPEED)
LLDP_COLUMNS: tuple[Oid, ...] = (
    LLDP_LOC_PORT_ID,
    LLDP_REM_CHASSIS_ID,
    LLDP_REM_PORT_ID,
    LLDP_REM_SYS_NAME,
)


def text(value: Value) -> str:
    """Display form of an OCTET STRING that may not be UTF-8 (never raises)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if value is None:
        return ""
    if isinstance(value, tuple):
        return dotted(value)
    return str(value)


def column(rows: Iterable[Row], col: Oid) -> dict[Oid, Value]:
    """Rows of one table column keyed by their instance suffix."""
    n = len(col)
    return {o[n:]: v for o, v in rows if o[:n] == col and len(o) > n}


def _int(v: Value, default: int = 0) -> int:
    return v if isinstance(v, int) else default


def interfaces(
    columns: Mapping[Oid, Sequence[Row]], previous: dict[int, InterfaceState]
) -> dict[int, InterfaceState]:
    """Build interface states from walked columns; keep names/speeds from ``previous``
    when this poll did not walk the slow columns."""
    out: dict[int, InterfaceState] = {}

    def col(c: Oid) -> dict[Oid, Value]:
        return column(columns.get(c, ()), c)

    admin = col(IF_ADMIN_STATUS)
    oper = col(IF_OPER_STATUS)
    in_err, out_err = col(IF_IN_ERRORS), col(IF_OUT_ERRORS)
    hc_in, hc_out = col(IF_HC_IN_OCTETS), col(IF_HC_OUT_OCTETS)
    in_oct, out_oct = col(IF_IN_OCTETS), col(IF_OUT_OCTETS)
    descr, name = col(IF_DESCR), col(IF_NAME)
    speed, high = col(IF_SPEED), col(IF_HIGH_SPEED)
    for suffix in admin.keys() | oper.keys():
        if len(suffix) != 1:
            continue
        idx = suffix[0]
        prev = previous.get(idx)
        st = InterfaceState(index=idx)
        # ifAdminStatus/ifOperStatus: 1 = up; anything else (down, testing,
        # dormant, notPresent, lowerLayerDown) is not carrying traffic.
        st.admin_up = _int(admin.get(suffix), 1) == 1
        raw_oper = oper.get(suffix)
        st.oper_status = (
            IF_OPER_STATUS_VALUES.get(raw_oper, OperStatus.UNKNOWN)
            if isinstance(raw_oper, int)
            else OperStatus.UNKNOWN
        )
        st.oper_up = st.oper_status is OperStatus.UP
        st.in_errors = _int(in_err.get(suffix))
        st.out_errors = _int(out_err.get(suffix))
        st.in_octets = _int(hc_in.get(suffix, in_oct.get(suffix)))
        st.out_octets = _int(hc_out.get(suffix, out_oct.get(suffix)))
        if suffix in name or suffix in descr:
            st.name = text(name.get(suffix)) or text(descr.get(suffix))
        elif prev is not None:
            st.name = prev.name
        if suffix in high and _int(high[suffix]):
            st.speed_bps = _int(high[suffix]) * 1_000_000
        elif suffix in speed:
            st.speed_bps = _int(speed[suffix])
        elif prev is not None:
            st.speed_bps = prev.speed_bps
        out[idx] = st
    return out


def counter_rate(old: int, new: int, seconds: float, bits: int) -> float | None:
    if seconds <= 0:
        return None
    delta = new - old
    if delta < 0:
        delta += 1 << bits  # one wrap; a reset looks like a huge rate, callers cap it
    return delta * 8 / seconds


def neighbours(columns: Mapping[Oid, Sequence[Row]]) -> list[Neighbour]:
    """LLDP remote entries; the index is lldpRemTimeMark.lldpRemLocalPortNum.lldpRemIndex."""
    loc_port = column(columns.get(LLDP_LOC_PORT_ID, ()), LLDP_LOC_PORT_ID)
    chassis = column(columns.get(LLDP_REM_CHASSIS_ID, ()), LLDP_REM_CHASSIS_ID)
    port = column(columns.get(LLDP_REM_PORT_ID, ()), LLDP_REM_PORT_ID)
    sysname = column(columns.get(LLDP_REM_SYS_NAME, ()), LLDP_REM_SYS_NAME)
    out: list[Neighbour] = []
    for suffix in sorted(sysname.keys() | port.keys()):
        if len(suffix) != 3:
            continue
        local = loc_port.get((suffix[1],))
        out.append(
            Neighbour(
                local_port=text(local) if local is not None else str(suffix[1]),
                remote_name=text(sysname.get(suffix)),
                remote_port=text(port.get(suffix)),
                remote_chassis=_chassis_text(chassis.get(suffix)),
            )
        )
    return out


def _chassis_text(v: Value) -> str:
    # Chassis IDs are usually MAC addresses: show them as such, not as mojibake.
    if isinstance(v, bytes) and len(v) == 6:
        return ":".join(f"{b:02x}" for b in v)
    return text(v)

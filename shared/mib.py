"""The few MIB objects emspool polls, and pure parsers from walk rows to our types.

Walk rows arrive as ``(oid, value)`` with plain Python values (int, bytes,
OID tuple, str, None) from the SNMP adapter, so this module never sees pysnmp.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

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
IF_COUNTER_DISCONTINUITY = (*IFX_ENTRY, 19)  # ifCounterDiscontinuityTime

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

# Columns walked on every cycle (status and counters). Octet counters: ifHCIn/OutOctets
# where the device has them; RFC 2863 lets interfaces of 20 Mb/s or less offer only the 32-bit
# ifIn/OutOctets, so a device may mix both ("mixed": walk both), and SNMPv1 has no Counter64.
_STATUS_COLUMNS: tuple[Oid, ...] = (IF_ADMIN_STATUS, IF_OPER_STATUS, IF_IN_ERRORS, IF_OUT_ERRORS)
HC_OCTETS: tuple[Oid, ...] = (IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS)
OCTETS_32: tuple[Oid, ...] = (IF_IN_OCTETS, IF_OUT_OCTETS)
FAST_COLUMNS_HC = _STATUS_COLUMNS + HC_OCTETS
FAST_COLUMNS_32 = _STATUS_COLUMNS + OCTETS_32
FAST_COLUMNS_MIXED = _STATUS_COLUMNS + HC_OCTETS + OCTETS_32
# ... and the slowly changing ones (names, speeds) refreshed with LLDP. The discontinuity time
# is there too: it is one more guard against rates from reset counters (the others, on every
# poll: sysUpTime going back, and a delta no interface could carry; see interface_rates).
SLOW_COLUMNS: tuple[Oid, ...] = (
    IF_DESCR,
    IF_SPEED,
    IF_NAME,
    IF_HIGH_SPEED,
    IF_COUNTER_DISCONTINUITY,
)
LLDP_COLUMNS: tuple[Oid, ...] = (
    LLDP_LOC_PORT_ID,
    LLDP_REM_CHASSIS_ID,
    LLDP_REM_PORT_ID,
    LLDP_REM_SYS_NAME,
)

# Table names for messages to the NOC, by entry OID.
TABLE_NAMES: Mapping[Oid, str] = {
    IF_ENTRY: "ifTable",
    IFX_ENTRY: "ifXTable",
    LLDP_REM_ENTRY: "lldpRemTable",
    oid("1.0.8802.1.1.2.1.3.7.1"): "lldpLocPortTable",
}


def table_name(column: Oid) -> str:
    """The MIB table a walked column belongs to (its dotted OID if we do not know it)."""
    return TABLE_NAMES.get(column[:-1], dotted(column))


def text(value: Value) -> str:
    """Display form of an OCTET STRING that may not be UTF-8 (never raises).

    Devices send names in whatever their operator typed them in: UTF-8, a legacy Chinese
    code page (GBK), or a Western one (cp1252/Latin-1). Tried in that fixed order, each with
    a sanity check; what none of them reads as text is shown as hex (``0x...``), never as a
    mix of characters and backslash escapes.
    """
    if isinstance(value, bytes):
        return _octets_text(value)
    if value is None:
        return ""
    if isinstance(value, tuple):
        return dotted(value)
    return str(value)


def _octets_text(raw: bytes) -> str:
    data = raw.rstrip(b"\x00")  # C strings sent with their terminator(s)
    if not data:
        return ""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return s if _readable(s) else _hex(raw)
    for decode in (_gbk, _western):
        s2 = decode(data)
        if s2 is not None:
            return s2
    return _hex(raw)


def _readable(s: str) -> bool:
    # Multi-line sysDescr values are common: line breaks and tabs are text too.
    return s.isprintable() or all(c.isprintable() or c in "\t\r\n" for c in s)


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


# CJK punctuation, Extension A, Unified Ideographs, full-width forms.
_CJK = ((0x3000, 0x303F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xFF00, 0xFFEF))


def _gbk(data: bytes) -> str | None:
    """GBK/GB18030 text, if every non-ASCII character is a two-byte CJK one whose second
    byte is not ASCII: Latin-1 text also decodes as GBK ("M\xfcller" -> "M<CJK>ler"), but a
    Latin-1 letter followed by an ASCII letter is what a GBK pair with an ASCII trail byte
    (0x40-0x7E) almost always is. The price: the rarer GBK characters with such a trail
    byte read as cp1252 or hex."""
    try:
        s = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    for c in s:
        if c.isascii():
            if not (c.isprintable() or c in "\t\r\n"):
                return None
            continue
        code = ord(c)
        if not any(lo <= code <= hi for lo, hi in _CJK):
            return None
        b = c.encode("gb18030")
        if len(b) != 2 or b[1] < 0x80:
            return None
    return s


def _western(data: bytes) -> str | None:
    """cp1252 (a superset of Latin-1's printable characters; where it has no character, at
    0x81/0x8D/0x8F/0x90/0x9D, Latin-1 has only C1 controls, so Latin-1 adds nothing)."""
    try:
        s = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    return s if _readable(s) else None


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
    discontinuity = col(IF_COUNTER_DISCONTINUITY)
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
        # Per interface: both HC counters, else both 32-bit ones, else none (no rates).
        hin, hout = hc_in.get(suffix), hc_out.get(suffix)
        if isinstance(hin, int) and isinstance(hout, int):
            st.in_octets, st.out_octets, st.counter_bits = hin, hout, 64
        else:
            cin, cout = in_oct.get(suffix), out_oct.get(suffix)
            if isinstance(cin, int) and isinstance(cout, int):
                st.in_octets, st.out_octets, st.counter_bits = cin, cout, 32
            else:
                st.counter_bits = 0
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
        d = discontinuity.get(suffix)
        if isinstance(d, int):
            st.discontinuity = d
        elif prev is not None:
            st.discontinuity = prev.discontinuity
        out[idx] = st
    return out


# Up to this many interfaces without HC counters get their 32-bit ones by GET, in the
# request the poll sends anyway (sysUpTime): no extra round trip, two varbinds each. More,
# and walking both columns for every interface is cheaper.
GET_32_MAX = 8


@dataclass(frozen=True, slots=True)
class CounterPlan:
    """Which octet counters the next poll reads. mode "hc": the HC columns, plus the 32-bit
    counters of ``get_32`` by GET; "mixed": both columns walked; "32": the 32-bit columns
    only (no interface has HC counters, or SNMPv1, which has no Counter64)."""

    mode: str = "hc"
    get_32: tuple[int, ...] = ()

    def instances(self) -> list[Oid]:
        return [(*col, i) for i in self.get_32 for col in OCTETS_32]


def counter_plan(interfaces: Mapping[int, InterfaceState]) -> CounterPlan:
    """The plan for the next poll, from what this one found."""
    lacking = tuple(sorted(i for i, st in interfaces.items() if st.counter_bits != 64))
    if not lacking:
        return CounterPlan()
    if len(lacking) == len(interfaces):
        return CounterPlan("32")
    if len(lacking) > GET_32_MAX:
        return CounterPlan("mixed")
    return CounterPlan("hc", lacking)


def add_instances(columns: dict[Oid, list[Row]], got: Mapping[Oid, Value]) -> None:
    """Put instances read by GET (e.g. ifInOctets.5001) into walked columns, as rows."""
    for o, v in got.items():
        if isinstance(v, int) and o[:-1] in OCTETS_32:
            columns.setdefault(o[:-1], []).append((o, v))


# Rates above this are counter resets, not traffic (400 Gb/s).
MAX_RATE_BPS = 4e11
# A 32-bit counter that was reset looks like a wrap; its implied rate is at most 2^32 octets
# per interval (3.4 Gb/s at 10 s), plausible for MAX_RATE_BPS. Over this many times the
# interface's own speed it is a reset (interfaces with 32-bit counters are slow ones, RFC 2863).
_SPEED_MARGIN = 2.0


def counter_rate(
    old: int, new: int, seconds: float, bits: int, ceiling_bps: float | None = None
) -> float | None:
    """Bits per second between two readings of one octet counter of ``bits`` width,
    allowing one wrap; None when there is no rate (no time, no counter, over the ceiling)."""
    if seconds <= 0 or bits not in (32, 64):
        return None
    delta = new - old
    if delta < 0:
        delta += 1 << bits  # one wrap; a reset gives a rate the ceiling refuses
        if delta < 0:
            return None  # a reading wider than the counter: garbage
    rate = delta * 8 / seconds
    if ceiling_bps is not None and rate > ceiling_bps:
        return None
    return rate


def interface_rates(
    old: InterfaceState, new: InterfaceState, seconds: float
) -> tuple[float | None, float | None]:
    """In and out rates of one interface between two polls, or None where the counters are
    not comparable: another width, a counter discontinuity, or a delta no interface of this
    speed could carry."""
    if old.counter_bits != new.counter_bits or old.discontinuity != new.discontinuity:
        return None, None
    ceiling = MAX_RATE_BPS
    if new.counter_bits == 32 and new.speed_bps > 0:
        ceiling = min(ceiling, new.speed_bps * _SPEED_MARGIN)
    bits = new.counter_bits
    return (
        counter_rate(old.in_octets, new.in_octets, seconds, bits, ceiling),
        counter_rate(old.out_octets, new.out_octets, seconds, bits, ceiling),
    )


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

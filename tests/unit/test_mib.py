import pytest

from shared import mib
from shared.model import InterfaceState
from shared.nodal import NodalModel, PollResult

pytestmark = pytest.mark.timeout(10)


def test_interfaces_from_columns_keeps_names_between_slow_polls():
    cols = {
        mib.IF_ADMIN_STATUS: [((*mib.IF_ADMIN_STATUS, 1), 1), ((*mib.IF_ADMIN_STATUS, 2), 2)],
        mib.IF_OPER_STATUS: [((*mib.IF_OPER_STATUS, 1), 2), ((*mib.IF_OPER_STATUS, 2), 2)],
        mib.IF_HC_IN_OCTETS: [((*mib.IF_HC_IN_OCTETS, 1), 12345)],
        mib.IF_HC_OUT_OCTETS: [((*mib.IF_HC_OUT_OCTETS, 1), 678)],
        mib.IF_NAME: [((*mib.IF_NAME, 1), b"ge-0/0/1")],
        mib.IF_HIGH_SPEED: [((*mib.IF_HIGH_SPEED, 1), 10000)],
    }
    got = mib.interfaces(cols, {})
    assert got[1].name == "ge-0/0/1" and not got[1].oper_up and got[1].admin_up
    assert got[1].in_octets == 12345 and got[1].speed_bps == 10_000_000_000
    assert got[1].counter_bits == 64 and got[2].counter_bits == 0  # 2 reported no counters
    assert not got[2].admin_up
    prev = {1: InterfaceState(index=1, name="kept", speed_bps=5)}
    again = mib.interfaces({mib.IF_OPER_STATUS: [((*mib.IF_OPER_STATUS, 1), 1)]}, prev)
    assert again[1].name == "kept" and again[1].speed_bps == 5 and again[1].oper_up


def test_neighbours_from_lldp_with_non_utf8_and_mac_chassis():
    cols = {
        mib.LLDP_LOC_PORT_ID: [((*mib.LLDP_LOC_PORT_ID, 5), b"Gi0/5")],
        mib.LLDP_REM_SYS_NAME: [((*mib.LLDP_REM_SYS_NAME, 0, 5, 1), b"sw\xff2")],
        mib.LLDP_REM_PORT_ID: [((*mib.LLDP_REM_PORT_ID, 0, 5, 1), b"Gi0/7")],
        mib.LLDP_REM_CHASSIS_ID: [
            ((*mib.LLDP_REM_CHASSIS_ID, 0, 5, 1), b"\x00\x11\x22\x33\x44\x55")
        ],
    }
    (n,) = mib.neighbours(cols)
    assert n.local_port == "Gi0/5" and n.remote_port == "Gi0/7"
    assert n.remote_name == "swÿ2" and n.remote_chassis == "00:11:22:33:44:55"


# -- octet counters: per-interface width, wrap, discontinuities (issue 11 item 3) -----------
def _mixed_columns(hc: dict[int, int], c32: dict[int, int]) -> dict[mib.Oid, list[mib.Row]]:
    """ifTable/ifXTable columns of a switch whose ports 1-2 have HC counters and whose
    10 Mb/s management port 3 has only the 32-bit ones (RFC 2863 allows it)."""
    ports = (1, 2, 3)
    return {
        mib.IF_ADMIN_STATUS: [((*mib.IF_ADMIN_STATUS, i), 1) for i in ports],
        mib.IF_OPER_STATUS: [((*mib.IF_OPER_STATUS, i), 1) for i in ports],
        mib.IF_HC_IN_OCTETS: [((*mib.IF_HC_IN_OCTETS, i), v) for i, v in hc.items()],
        mib.IF_HC_OUT_OCTETS: [((*mib.IF_HC_OUT_OCTETS, i), v) for i, v in hc.items()],
        mib.IF_IN_OCTETS: [((*mib.IF_IN_OCTETS, i), v) for i, v in c32.items()],
        mib.IF_OUT_OCTETS: [((*mib.IF_OUT_OCTETS, i), v) for i, v in c32.items()],
        mib.IF_SPEED: [((*mib.IF_SPEED, i), 10_000_000 if i == 3 else 0) for i in ports],
        mib.IF_HIGH_SPEED: [((*mib.IF_HIGH_SPEED, i), 1000 if i < 3 else 10) for i in ports],
    }


def test_interfaces_without_hc_counters_fall_back_to_32_bit_ones_each() -> None:
    # Every interface also has 32-bit counters (as on real devices); only 1-2 have HC ones.
    got = mib.interfaces(_mixed_columns({1: 2**40, 2: 7}, {1: 5, 2: 6, 3: 4_000_000_000}), {})
    assert (got[1].in_octets, got[1].counter_bits) == (2**40, 64)
    assert (got[2].in_octets, got[2].counter_bits) == (7, 64)
    assert (got[3].in_octets, got[3].out_octets, got[3].counter_bits) == (
        4_000_000_000,
        4_000_000_000,
        32,
    )
    # Next poll: HC columns walked, the management port's two counters by GET.
    assert mib.counter_plan(got) == mib.CounterPlan("hc", (3,))
    assert mib.counter_plan(got).instances() == [(*mib.IF_IN_OCTETS, 3), (*mib.IF_OUT_OCTETS, 3)]
    assert mib.counter_plan({i: got[i] for i in (1, 2)}) == mib.CounterPlan("hc", ())
    assert mib.counter_plan({3: got[3]}) == mib.CounterPlan("32")


def test_many_interfaces_without_hc_counters_walk_both_columns() -> None:
    ifs = {i: InterfaceState(i, counter_bits=32) for i in range(1, 50)}
    ifs[49].counter_bits = 64  # e.g. 48 Fast Ethernet ports and one gigabit uplink
    assert mib.counter_plan(ifs) == mib.CounterPlan("mixed")
    got = {(*mib.IF_IN_OCTETS, 7): 5, (*mib.IF_OUT_OCTETS, 7): None, mib.SYS_UPTIME: 1}
    cols: dict[mib.Oid, list[mib.Row]] = {}
    mib.add_instances(cols, got)
    assert cols == {mib.IF_IN_OCTETS: [((*mib.IF_IN_OCTETS, 7), 5)]}


def test_counter_rate() -> None:
    assert mib.counter_rate(10, 20, 1.0, 64) == 80
    assert mib.counter_rate(10, 20, 0.0, 64) is None
    assert mib.counter_rate(2**32 - 1, 0, 1.0, 32) == 8
    assert mib.counter_rate(10, 20, 1.0, 0) is None  # the device gave no counters
    assert mib.counter_rate(2**33, 5, 1.0, 32) is None  # wider than a Counter32: garbage
    assert mib.counter_rate(0, 1000, 1.0, 64, ceiling_bps=7999) is None


def test_mixed_device_rates_use_each_interfaces_width_across_a_counter32_wrap() -> None:
    m = NodalModel("a1")
    m.add_ne("sw")
    first = mib.interfaces(_mixed_columns({1: 1_000, 2: 0}, {1: 1, 2: 1, 3: 2**32 - 500_000}), {})
    m.poll_ok(PollResult("sw", 0.0, 100, first))
    # 10 s later the management port's Counter32 wrapped: 500,000 + 750,000 octets.
    later = mib.interfaces(_mixed_columns({1: 1_001_000, 2: 0}, {1: 2, 2: 2, 3: 750_000}), {})
    m.poll_ok(PollResult("sw", 10.0, 1100, later))
    st = m.states["sw"].interfaces
    assert st[1].in_bps == 1_000_000 * 8 / 10
    assert st[3].in_bps == 1_250_000 * 8 / 10 == st[3].out_bps  # 1 Mb/s, not 0, not 3 Gb/s


def test_counter_discontinuities_give_no_rate_rather_than_a_huge_one() -> None:
    m = NodalModel("a1")
    m.add_ne("sw")
    m.poll_ok(
        PollResult("sw", 0.0, 100, mib.interfaces(_mixed_columns({1: 10**9}, {3: 10**9}), {}))
    )
    # Both counters went back; uptime did not: HC reset (a wrap would need 2^64 octets),
    # and on the 10 Mb/s port a "wrap" of ~3.3 GB in 10 s (2.6 Gb/s): a reset too.
    after = mib.interfaces(_mixed_columns({1: 5}, {3: 5}), {})
    m.poll_ok(PollResult("sw", 10.0, 1100, after))
    st = m.states["sw"].interfaces
    assert st[1].in_bps is None and st[3].in_bps is None
    # sysUpTime went back: the agent restarted, none of its counters compare.
    m.poll_ok(PollResult("sw", 20.0, 1200, mib.interfaces(_mixed_columns({1: 50}, {3: 50}), {})))
    assert m.states["sw"].interfaces[1].in_bps == 45 * 8 / 10
    m.poll_ok(PollResult("sw", 30.0, 5, mib.interfaces(_mixed_columns({1: 60}, {3: 60}), {})))
    assert m.states["sw"].interfaces[1].in_bps is None


def test_a_changed_discontinuity_time_or_width_gives_no_rate() -> None:
    old = InterfaceState(1, in_octets=100, out_octets=100, counter_bits=64, discontinuity=0)
    new = InterfaceState(1, in_octets=200, out_octets=200, counter_bits=64, discontinuity=4242)
    assert mib.interface_rates(old, new, 10.0) == (None, None)
    new.discontinuity = 0
    assert mib.interface_rates(old, new, 10.0) == (80.0, 80.0)
    new.counter_bits = 32  # the device dropped its HC counters: other counters, no delta
    assert mib.interface_rates(old, new, 10.0) == (None, None)
    # Kept between the full polls that read it, like names and speeds.
    walked = {
        mib.IF_OPER_STATUS: [((*mib.IF_OPER_STATUS, 1), 1)],
        mib.IF_COUNTER_DISCONTINUITY: [((*mib.IF_COUNTER_DISCONTINUITY, 1), 77)],
    }
    first = mib.interfaces(walked, {})
    assert first[1].discontinuity == 77
    assert (
        mib.interfaces({mib.IF_OPER_STATUS: walked[mib.IF_OPER_STATUS]}, first)[1].discontinuity
        == 77
    )


# -- names from devices that do not speak UTF-8 ------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("北京-核心交换机-01".encode(), "北京-核心交换机-01"),  # UTF-8
        ("北京-核心交换机-01".encode("gbk"), "北京-核心交换机-01"),  # a GBK-configured device
        ("上海 汇聚 SW2".encode("gb18030"), "上海 汇聚 SW2"),
        ("Zürich-Core Müller".encode("cp1252"), "Zürich-Core Müller"),  # Latin-1 / cp1252
        (b"Caf\xe9 \x80 Paris", "Café € Paris"),  # cp1252's euro sign
        (b"sw-edge\x00\x00", "sw-edge"),  # a C string with its terminators
        (b"Cisco IOS Software\r\nTechnical Support", "Cisco IOS Software\r\nTechnical Support"),
        (b"\x00\x1b\x21\x3a\x4f\x01", "0x001b213a4f01"),  # binary: hex, not escapes
        (b"\x81\x00\x8d", "0x81008d"),  # no encoding reads it as text
        (b"ok\x07bell", "0x6f6b0762656c6c"),  # UTF-8 but a control character
        (b"", ""),
    ],
)
def test_text_of_octet_strings_is_readable_or_hex(raw: bytes, shown: str) -> None:
    assert mib.text(raw) == shown
    assert "\\x" not in mib.text(raw)


def test_latin1_that_also_decodes_as_gbk_stays_latin1() -> None:
    # b"M\xfcller" is a valid GBK pair (0xFC 0x6C) too: a trail byte in the ASCII range is
    # a Latin-1 letter followed by an ASCII one, not Chinese.
    assert mib.text("Müller-Straße 5".encode("latin-1")) == "Müller-Straße 5"
    assert mib.text("Zürich".encode("latin-1")) == "Zürich"


def test_table_names_for_messages() -> None:
    assert mib.table_name(mib.LLDP_REM_SYS_NAME) == "lldpRemTable"
    assert mib.table_name(mib.IF_HC_IN_OCTETS) == "ifXTable"
    assert mib.table_name((1, 3, 6, 1, 4, 1, 9, 1)) == "1.3.6.1.4.1.9.1"

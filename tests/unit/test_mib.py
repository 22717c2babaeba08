from shared import mib
from shared.model import InterfaceState


def test_interfaces_from_columns_keeps_names_between_slow_polls():
    cols = {
        mib.IF_ADMIN_STATUS: [((*mib.IF_ADMIN_STATUS, 1), 1), ((*mib.IF_ADMIN_STATUS, 2), 2)],
        mib.IF_OPER_STATUS: [((*mib.IF_OPER_STATUS, 1), 2), ((*mib.IF_OPER_STATUS, 2), 2)],
        mib.IF_HC_IN_OCTETS: [((*mib.IF_HC_IN_OCTETS, 1), 12345)],
        mib.IF_NAME: [((*mib.IF_NAME, 1), b"ge-0/0/1")],
        mib.IF_HIGH_SPEED: [((*mib.IF_HIGH_SPEED, 1), 10000)],
    }
    got = mib.interfaces(cols, {})
    assert got[1].name == "ge-0/0/1" and not got[1].oper_up and got[1].admin_up
    assert got[1].in_octets == 12345 and got[1].speed_bps == 10_000_000_000
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
    assert n.remote_name == "sw\\xff2" and n.remote_chassis == "00:11:22:33:44:55"


def test_counter_rate():
    assert mib.counter_rate(10, 20, 1.0, 64) == 80
    assert mib.counter_rate(10, 20, 0.0, 64) is None
    assert mib.counter_rate(2**32 - 1, 0, 1.0, 32) == 8

from shared import mib
from shared.alarms import Alarm
from shared.model import (
    AlarmKey,
    InterfaceState,
    LinkAlarms,
    NetworkElement,
    OperStatus,
    Severity,
)
from shared.nodal import NodalModel, Policy, PollResult


def ifs(*down: int, n: int = 4) -> dict[int, InterfaceState]:
    return {
        i: InterfaceState(index=i, name=f"ge-{i}", oper_up=i not in down, in_octets=1000 * i)
        for i in range(1, n + 1)
    }


def test_interface_down_raises_and_up_clears():
    m = NodalModel("a1")
    m.add_ne("ne1")
    assert m.poll_ok(PollResult("ne1", 0.0, 100, ifs())) == []
    evs = m.poll_ok(PollResult("ne1", 60.0, 6100, ifs(2)))
    assert [(e.type, e.obj) for e in evs] == [("alarm-raised", "ifIndex=2")]
    assert "ge-2" in evs[0].text
    assert m.poll_ok(PollResult("ne1", 120.0, 12100, ifs(2))) == []  # dedup
    evs = m.poll_ok(PollResult("ne1", 180.0, 18100, ifs()))
    assert [(e.type, e.severity) for e in evs] == [("alarm-cleared", Severity.CLEARED)]


def test_admin_down_is_not_an_alarm():
    m = NodalModel("a1")
    m.add_ne("ne1")
    i = ifs(1)
    i[1].admin_up = False
    assert m.poll_ok(PollResult("ne1", 0.0, 1, i)) == []


def test_unreachable_then_back():
    m = NodalModel("a1")
    m.add_ne("ne1")
    evs = m.poll_failed("ne1", 5.0, "timeout after 2.0 s")
    assert [(e.type, e.alarm_type, e.severity) for e in evs] == [
        ("alarm-raised", "ne-unreachable", Severity.CRITICAL)
    ]
    assert m.states["ne1"].reachable is False
    evs = m.poll_ok(PollResult("ne1", 10.0, 1000, ifs()))
    assert [(e.type, e.alarm_type) for e in evs] == [("alarm-cleared", "ne-unreachable")]


def test_restart_detected_from_uptime_and_coldstart_then_auto_clears():
    m = NodalModel("a1")
    m.add_ne("ne1")
    m.poll_ok(PollResult("ne1", 0.0, 500_000, ifs()))
    evs = m.poll_ok(PollResult("ne1", 60.0, 300, ifs()))
    assert [(e.type, e.alarm_type) for e in evs] == [("alarm-raised", "device-restart")]
    assert m.notification("ne1", mib.TRAP_COLD_START, [], 61.0) == []  # dedup
    evs = m.tick(61.0 + m.policy.restart_hold)
    assert [(e.type, e.alarm_type) for e in evs] == [("alarm-cleared", "device-restart")]


def test_link_traps_raise_and_clear_same_alarm_as_polling():
    m = NodalModel("a1")
    m.add_ne("ne1")
    m.poll_ok(PollResult("ne1", 0.0, 1, ifs()))
    vb = [((*mib.IF_INDEX, 3), 3), ((*mib.IF_OPER_STATUS, 3), 2)]
    evs = m.notification("ne1", mib.TRAP_LINK_DOWN, vb, 1.0)
    assert [(e.type, e.obj) for e in evs] == [("alarm-raised", "ifIndex=3")]
    # the next poll confirms: deduplicated, not a second alarm
    assert m.poll_ok(PollResult("ne1", 2.0, 2, ifs(3))) == []
    a = m.alarms.get(AlarmKey("ne1", "ifIndex=3", "link-down"))
    assert a is not None and a.count == 2
    evs = m.notification("ne1", mib.TRAP_LINK_UP, vb, 3.0)
    assert [e.type for e in evs] == ["alarm-cleared"]


def test_unknown_trap_becomes_event_with_safe_text():
    m = NodalModel("a1")
    m.add_ne("ne1")
    evs = m.notification(
        "ne1", (1, 3, 6, 1, 4, 1, 9, 9, 1), [((1, 3, 6, 1, 9), b"\xff\xfeok")], 1.0
    )
    assert len(evs) == 1 and evs[0].type == "trap"
    # Not UTF-8, not GBK: read as cp1252 (what a Windows-configured device meant).
    assert "1.3.6.1.4.1.9.9.1" in evs[0].text and "ÿþok" in evs[0].text
    assert "\\" not in evs[0].text


def test_unknown_ne_is_ignored_and_removed_ne_forgets_alarms():
    m = NodalModel("a1")
    assert m.poll_failed("ghost", 1.0, "x") == []
    m.add_ne("ne1")
    m.poll_failed("ne1", 1.0, "x")
    m.remove_ne("ne1")
    assert len(m.alarms) == 0
    assert m.poll_ok(PollResult("ne1", 2.0, 1, ifs())) == []


def test_rates_from_counters_with_wrap():
    m = NodalModel("a1")
    m.add_ne("ne1")
    a = ifs()
    a[1].in_octets, a[1].counter_bits = 2**32 - 1000, 32
    m.poll_ok(PollResult("ne1", 0.0, 1, a))
    b = ifs()
    b[1].in_octets, b[1].counter_bits = 1000, 32
    m.poll_ok(PollResult("ne1", 10.0, 1001, b))
    assert m.states["ne1"].interfaces[1].in_bps == 2000 * 8 / 10


# -- the link-down policy (issue 11 item 7) and closing alarms of removed NEs (item 6) ---------
def _ports(**status: OperStatus) -> dict[int, InterfaceState]:
    """Ports 1..4, up unless named (p2=OperStatus.DOWN, ...)."""
    out = {}
    for i in range(1, 5):
        st = status.get(f"p{i}", OperStatus.UP)
        out[i] = InterfaceState(
            index=i, name=f"ge-{i}", oper_up=st is OperStatus.UP, oper_status=st
        )
    return out


def test_default_policy_quiet_for_never_up_ports_and_empty_slots():
    m = NodalModel("a1")
    m.add_ne("sw1")
    first = _ports(p2=OperStatus.DOWN, p3=OperStatus.NOT_PRESENT, p4=OperStatus.LOWER_LAYER_DOWN)
    assert m.poll_ok(PollResult("sw1", 0.0, 1, first)) == []
    # port 1 was up and goes down: that is an alarm; the never-up ones still are not
    evs = m.poll_ok(PollResult("sw1", 60.0, 2, _ports(p1=OperStatus.DOWN, p2=OperStatus.DOWN)))
    assert [(e.type, e.obj) for e in evs] == [("alarm-raised", "ifIndex=1")]
    # port 2 comes up once, then fails: now it is watched
    m.poll_ok(PollResult("sw1", 120.0, 3, _ports(p1=OperStatus.DOWN)))
    evs = m.poll_ok(PollResult("sw1", 180.0, 4, _ports(p1=OperStatus.DOWN, p2=OperStatus.DOWN)))
    assert [(e.type, e.obj) for e in evs] == [("alarm-raised", "ifIndex=2")]


def test_missing_or_unknown_oper_status_never_alarms():
    m = NodalModel("a1", Policy(alarm_never_up_ports=True))
    m.add_ne("sw1")
    m.poll_ok(PollResult("sw1", 0.0, 1, _ports()))
    evs = m.poll_ok(
        PollResult("sw1", 60.0, 2, _ports(p1=OperStatus.UNKNOWN, p2=OperStatus.DORMANT))
    )
    assert evs == []
    assert m.states["sw1"].summary()["interfaces_down"] == 0


def test_monitor_and_ignore_overrides():
    ne = NetworkElement(
        "sw1",
        "127.0.0.1",
        link_alarms=LinkAlarms.MONITOR,
        interface_alarms=(("ge-2", LinkAlarms.IGNORE), ("4", LinkAlarms.DEFAULT)),
    )
    m = NodalModel("a1")
    m.add_ne("sw1", ne)
    polled = _ports(
        p1=OperStatus.NOT_PRESENT, p2=OperStatus.DOWN, p3=OperStatus.DOWN, p4=OperStatus.DOWN
    )
    evs = m.poll_ok(PollResult("sw1", 0.0, 1, polled))
    # monitor alarms even never-up and notPresent ports; ge-2 ignored; port 4 by default rule
    assert sorted(e.obj for e in evs) == ["ifIndex=1", "ifIndex=3"]
    vb = [((*mib.IF_INDEX, 2), 2)]
    assert m.notification("sw1", mib.TRAP_LINK_DOWN, vb, 5.0) == []  # ignored port


def test_link_down_trap_alarms_a_port_the_poll_never_saw_up():
    m = NodalModel("a1")
    m.add_ne("sw1")
    m.poll_ok(PollResult("sw1", 0.0, 1, _ports(p3=OperStatus.DOWN)))
    # the trap says it went down, so it was up in between: raise and keep it on the next poll
    evs = m.notification("sw1", mib.TRAP_LINK_DOWN, [((*mib.IF_INDEX, 3), 3)], 10.0)
    assert [(e.type, e.obj) for e in evs] == [("alarm-raised", "ifIndex=3")]
    assert m.poll_ok(PollResult("sw1", 60.0, 2, _ports(p3=OperStatus.DOWN))) == []
    assert m.alarms.get(AlarmKey("sw1", "ifIndex=3", "link-down")).active


def test_restored_alarm_is_not_cleared_by_the_never_up_rule():
    m = NodalModel("a1")
    m.add_ne("sw1")
    key = AlarmKey("sw1", "ifIndex=2", "link-down")
    m.restore([Alarm(key, Severity.MAJOR, "Interface ge-2 is down (admin up)", 1, 1, 1)])
    assert m.poll_ok(PollResult("sw1", 60.0, 2, _ports(p2=OperStatus.DOWN))) == []
    assert m.alarms.get(key).active


def test_an_alarm_raised_under_monitor_clears_when_the_ne_goes_back_to_default():
    m = NodalModel("a1")
    m.add_ne("sw1", NetworkElement("sw1", "127.0.0.1", link_alarms=LinkAlarms.MONITOR))
    evs = m.poll_ok(PollResult("sw1", 0.0, 1, _ports(p3=OperStatus.DOWN)))
    assert [e.obj for e in evs] == ["ifIndex=3"]
    m.add_ne("sw1", NetworkElement("sw1", "127.0.0.1"))  # the inventory says default again
    evs = m.poll_ok(PollResult("sw1", 60.0, 2, _ports(p3=OperStatus.DOWN)))
    assert [(e.type, e.obj) for e in evs] == [("alarm-cleared", "ifIndex=3")]


def test_removed_ne_closes_its_alarms_with_a_reason_moved_ne_does_not():
    m = NodalModel("a1")
    m.add_ne("sw1")
    m.add_ne("sw2")
    for ne in ("sw1", "sw2"):
        m.poll_failed(ne, 1.0, "timeout")
    evs = m.remove_ne("sw1", 5.0, "NE removed from the inventory")
    assert [(e.type, e.alarm_type, e.severity) for e in evs] == [
        ("alarm-cleared", "ne-unreachable", Severity.CLEARED)
    ]
    assert "NE removed from the inventory" in evs[0].text
    assert "sw1" not in m.states and m.alarms.for_ne("sw1") == []
    # an NE that moves to another agent: forgotten here, no transition (the taker rebuilds)
    assert m.remove_ne("sw2") == []
    assert m.alarms.for_ne("sw2") == []

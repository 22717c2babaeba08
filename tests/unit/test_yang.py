"""YANG-shaped XML -> our types, and NETCONF inputs to the nodal model."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from shared import nodal_netconf, yang
from shared.model import AlarmKey, EventType, Severity
from shared.nodal import NodalModel, Policy

IF, SYS, AL, LLDP, N = yang.IF_NS, yang.SYS_NS, yang.AL_NS, yang.LLDP_NS, yang.NOTIF_NS

DATA = f"""<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
<interfaces xmlns="{IF}">
 <interface><name>ge-0/0/1</name><enabled>true</enabled><admin-status>up</admin-status>
  <oper-status>up</oper-status><if-index>1</if-index><speed>1000000000</speed>
  <statistics><in-octets>18446744073709551615</in-octets><out-octets>5</out-octets>
  <in-errors>1</in-errors><out-errors>2</out-errors></statistics></interface>
 <interface><name>ge-0/0/2</name><enabled>true</enabled><admin-status>up</admin-status>
  <oper-status>down</oper-status><if-index>2</if-index></interface>
 <interface><name>ge-0/0/3</name><enabled>false</enabled><oper-status>down</oper-status></interface>
</interfaces>
<system xmlns="{SYS}"><hostname>rtr007</hostname></system>
<system-state xmlns="{SYS}"><platform><os-name>LabOS</os-name><os-release>2.1</os-release></platform>
 <clock><current-datetime>2024-05-01T10:00:00+02:00</current-datetime>
 <boot-datetime>2024-05-01T07:59:00Z</boot-datetime></clock></system-state>
<alarms xmlns="{AL}"><alarm-list><number-of-alarms>3</number-of-alarms>
 <alarm><resource>/if:interfaces/if:interface[if:name='ge-0/0/2']</resource>
  <alarm-type-id xmlns:lab="urn:emspool:lab:alarms">lab:link-down</alarm-type-id><alarm-type-qualifier/>
  <is-cleared>false</is-cleared><perceived-severity>major</perceived-severity><alarm-text>down</alarm-text></alarm>
 <alarm><resource>chassis</resource><alarm-type-id>lab:fan-failure</alarm-type-id>
  <alarm-type-qualifier>fan2</alarm-type-qualifier><is-cleared>false</is-cleared>
  <perceived-severity>critical</perceived-severity><alarm-text>fan 2</alarm-text></alarm>
 <alarm><resource>ge-0/0/1</resource><alarm-type-id>lab:high-temperature</alarm-type-id>
  <is-cleared>true</is-cleared><perceived-severity>minor</perceived-severity></alarm>
 <alarm><alarm-type-id>lab:broken</alarm-type-id></alarm>
</alarm-list></alarms>
<lldp xmlns="{LLDP}"><interfaces><interface><name>ge-0/0/1</name><neighbors>
 <neighbor><id>1</id><state><system-name>rtr002</system-name><port-id>ge-0/0/9</port-id>
 <chassis-id>02:00:00:00:00:02</chassis-id></state></neighbor></neighbors></interface></interfaces></lldp>
</data>"""


def notif(body: str, when: str = "2024-05-01T10:00:00Z") -> ET.Element:
    return ET.fromstring(
        f'<notification xmlns="{N}"><eventTime>{when}</eventTime>{body}</notification>'
    )


def test_interfaces_mapping():
    itf = yang.interfaces(ET.fromstring(DATA))
    # ge-0/0/3 has no if-index: its index comes from its name, above the int32 range
    assert sorted(itf) == [1, 2, yang.stable_index("ge-0/0/3")]
    assert yang.stable_index("ge-0/0/3") > yang.MAX_IF_INDEX
    assert itf[1].in_octets == 2**64 - 1 and itf[1].speed_bps == 10**9 and itf[1].out_errors == 2
    assert itf[2].admin_up and not itf[2].oper_up
    third = itf[yang.stable_index("ge-0/0/3")]
    assert third.name == "ge-0/0/3" and not third.admin_up  # <enabled>false, no admin-status


def test_system_and_uptime():
    info = yang.system(ET.fromstring(DATA))
    assert info.hostname == "rtr007" and info.os_name == "LabOS"
    assert yang.uptime_ticks(info, now=0.0) == 60 * 100  # device clock, timezones honoured
    r = yang.poll_result("rtr007", ET.fromstring(DATA), 1000.0)
    assert (
        r.sys_uptime == 6000
        and r.sys_descr == "LabOS 2.1"
        and all(i.counter_bits == 64 for i in r.interfaces.values())
    )


def test_alarm_list_and_lldp():
    al = yang.alarms(ET.fromstring(DATA))
    assert [(a.resource, a.type_key, a.severity) for a in al] == [
        ("ge-0/0/2", "link-down", Severity.MAJOR),
        ("chassis", "fan-failure:fan2", Severity.CRITICAL),
        ("ge-0/0/1", "high-temperature", Severity.CLEARED),
    ]
    nb = yang.neighbours(ET.fromstring(DATA))
    assert [(n.local_port, n.remote_name, n.remote_port) for n in nb] == [
        ("ge-0/0/1", "rtr002", "ge-0/0/9")
    ]
    assert yang.poll_result("x", ET.fromstring("<data/>"), 0).neighbours is None


def test_notifications_parse():
    n = yang.parse_notification(
        notif(
            '<interface-state-change xmlns="urn:emspool:lab:notifications"><name>ge-0/0/3</name>'
            "<if-index>3</if-index><oper-status>down</oper-status></interface-state-change>"
        )
    )
    assert n == yang.InterfaceChange(1714557600.0, "ge-0/0/3", 3, False)
    a = yang.parse_notification(
        notif(
            f'<alarm-notification xmlns="{AL}"><resource>ge-0/0/3</resource><alarm-type-id>lab:link-down'
            "</alarm-type-id><perceived-severity>cleared</perceived-severity></alarm-notification>"
        )
    )
    assert isinstance(a, yang.AlarmNotification) and a.alarm.is_cleared
    assert isinstance(yang.parse_notification(notif('<x xmlns="urn:y"/>')), yang.OtherNotification)


@pytest.mark.parametrize(
    "bad",
    [
        notif('<x xmlns="urn:y"/>', when="yesterday"),
        notif(f'<alarm-notification xmlns="{AL}"><resource>r</resource></alarm-notification>'),
        notif(
            f'<alarm-notification xmlns="{AL}"><resource>r</resource><alarm-type-id>t</alarm-type-id>'
            "<perceived-severity>dire</perceived-severity></alarm-notification>"
        ),
        notif(
            '<interface-state-change xmlns="urn:emspool:lab:notifications"><name>x</name></interface-state-change>'
        ),
        notif(""),
        ET.fromstring("<rpc-reply/>"),
    ],
)
def test_malformed_notifications_raise_valueerror(bad):
    with pytest.raises(ValueError):
        yang.parse_notification(bad)


def _model_after_poll() -> NodalModel:
    # DATA's first poll already has a port down: alarm it although it was never seen up.
    m = NodalModel("a1", Policy(alarm_never_up_ports=True))
    m.add_ne("rtr007")
    m.poll_ok(yang.poll_result("rtr007", ET.fromstring(DATA), 100.0))
    return m


def test_device_alarms_share_keys_and_reconcile():
    m = _model_after_poll()
    # poll_ok raised link-down on ifIndex=2 from oper-status; the device's own entry is the same alarm
    evs = nodal_netconf.device_alarms(m, "rtr007", yang.alarms(ET.fromstring(DATA)), 101.0)
    assert [(e.type, e.obj, e.alarm_type) for e in evs] == [
        (EventType.ALARM_RAISED, "chassis", "fan-failure:fan2")
    ]
    link = m.alarms.get(AlarmKey("rtr007", "ifIndex=2", "link-down"))
    assert link is not None and link.active
    # the fan alarm vanishes from the list: cleared; agent-owned link-down stays
    evs = nodal_netconf.device_alarms(m, "rtr007", [], 102.0)
    assert [(e.type, e.alarm_type) for e in evs] == [(EventType.ALARM_CLEARED, "fan-failure:fan2")]
    link = m.alarms.get(AlarmKey("rtr007", "ifIndex=2", "link-down"))
    assert link is not None and link.active


def test_device_notification_transitions():
    m = _model_after_poll()
    down = yang.InterfaceChange(None, "ge-0/0/1", 1, False)
    evs = nodal_netconf.device_notification(m, "rtr007", down, 101.0)
    assert [(e.type, e.obj, e.severity) for e in evs] == [
        (EventType.ALARM_RAISED, "ifIndex=1", Severity.MAJOR)
    ]
    assert not m.states["rtr007"].interfaces[1].oper_up
    # the matching alarm-notification deduplicates onto the same alarm
    al = yang.DeviceAlarm("ge-0/0/1", "link-down", "", Severity.MAJOR, "Link down")
    assert (
        nodal_netconf.device_notification(m, "rtr007", yang.AlarmNotification(None, al), 101.5)
        == []
    )
    up = yang.InterfaceChange(None, "ge-0/0/1", None, True)  # index found by name
    evs = nodal_netconf.device_notification(m, "rtr007", up, 102.0)
    assert [e.type for e in evs] == [EventType.ALARM_CLEARED]
    # an admin-down port going down is not an alarm
    assert (
        nodal_netconf.device_notification(
            m, "rtr007", yang.InterfaceChange(None, "ge-0/0/3", 3, False), 103.0
        )
        == []
    )
    other = nodal_netconf.device_notification(
        m, "rtr007", yang.OtherNotification(None, "{urn:y}x"), 104.0
    )
    assert other[0].type == EventType.TRAP


def test_host_key_alarm_raise_and_clear():
    m = _model_after_poll()
    evs = nodal_netconf.host_key_refused(m, "rtr007", "changed", 1.0)
    assert (
        evs[0].severity is Severity.CRITICAL
        and evs[0].alarm_type == nodal_netconf.HOST_KEY_MISMATCH
    )
    assert (
        nodal_netconf.device_alarms(m, "rtr007", [], 2.0) == []
    )  # agent-owned: not cleared by absence
    assert [e.type for e in nodal_netconf.host_key_ok(m, "rtr007", 3.0)] == [
        EventType.ALARM_CLEARED
    ]


def test_config_summary_counts_interfaces_and_reads_hostname():
    data = ET.fromstring(
        f"""<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
        <interfaces xmlns="{yang.IF_NS}">
          <interface><name>ge-0/0/1</name><enabled>true</enabled><description>uplink</description></interface>
          <interface><name>ge-0/0/2</name><enabled>false</enabled></interface>
          <interface><name>ge-0/0/3</name></interface>
        </interfaces>
        <system xmlns="{yang.SYS_NS}"><hostname>rtr9</hostname></system></data>"""
    )
    assert yang.config_summary(data) == {
        "hostname": "rtr9",
        "interfaces": 3,
        "interfaces_enabled": 2,  # enabled defaults to true in ietf-interfaces
        "interfaces_described": 1,
    }


def test_capability_summary():
    caps = [
        "urn:ietf:params:netconf:base:1.0",
        "urn:ietf:params:netconf:base:1.1",
        "urn:ietf:params:netconf:capability:notification:1.0",
        "urn:ietf:params:xml:ns:yang:ietf-alarms?module=ietf-alarms&revision=2019-09-11",
        "http://openconfig.net/yang/lldp?module=openconfig-lldp",
    ]
    assert yang.capability_summary(caps) == {
        "netconf_base": ["1.0", "1.1"],
        "netconf_features": ["notification:1.0"],
        "yang_modules": ["ietf-alarms", "openconfig-lldp"],
    }

"""ietf-interfaces replies, link notifications and hellos in the shapes real servers send
(tests/data/netconf/README.md says where each shape comes from)."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from lxml import etree

from shared import nodal_netconf, yang
from shared.model import AlarmKey, EventType, OperStatus, Severity
from shared.nodal import NodalModel, Policy

DATA = Path(__file__).resolve().parent.parent / "data" / "netconf"
IF = yang.IF_NS


def load(name: str) -> ET.Element:
    return ET.fromstring((DATA / name).read_text())


def by_name(itfs: dict[int, object]) -> dict[str, object]:
    return {i.name: i for i in itfs.values()}  # type: ignore[attr-defined]


def model_after(data: ET.Element, policy: Policy | None = None) -> NodalModel:
    m = NodalModel("a1", policy or Policy(alarm_never_up_ports=True))
    m.add_ne("ne1")
    m.poll_ok(yang.poll_result("ne1", data, 100.0))
    return m


def link_alarms(m: NodalModel) -> set[str]:
    return {a.key.obj for a in m.alarms.active("ne1") if a.key.type == "link-down"}


def test_poll_filter_asks_for_both_trees():
    flt = ET.fromstring(f"<filter>{yang.POLL_FILTER}</filter>")
    assert flt.find(f"{{{IF}}}interfaces") is not None
    assert flt.find(f"{{{IF}}}interfaces-state") is not None


def test_rfc7223_state_tree_merged_with_config_by_name():
    itf = yang.interfaces(load("rfc7223-both-trees.xml"))
    assert sorted(itf) == [1, 2, 7, 8, 9]  # the device's own if-index values
    eth1 = itf[7]
    assert eth1.name == "eth1" and eth1.admin_up and eth1.oper_status is OperStatus.UP
    assert eth1.speed_bps == 10**9 and eth1.in_octets == 9123456789012
    assert eth1.out_octets == 4567890123 and eth1.in_errors == 3
    assert itf[2].name == "eth0" and not itf[2].admin_up  # enabled false / admin-status down
    assert itf[9].oper_status is OperStatus.LOWER_LAYER_DOWN
    assert itf[8].name == "eth2" and itf[8].oper_status is OperStatus.NOT_PRESENT  # unconfigured
    assert itf[1].name == "lo1" and itf[1].in_octets == 0  # counters missing: 0, no error


def test_rfc7223_reply_gives_real_state_and_only_real_alarms():
    m = model_after(load("rfc7223-both-trees.xml"))
    st = m.states["ne1"]
    assert st.summary()["interfaces_down"] == 1  # eth1.10, lower-layer-down and admin up
    assert link_alarms(m) == {"ifIndex=9"}


def test_iosxe_state_without_if_index_or_type():
    data = load("iosxe-interfaces-state.xml")
    itf = yang.interfaces(data)
    names = by_name(itf)
    assert set(names) == {"GigabitEthernet1", "GigabitEthernet2", "GigabitEthernet3"}
    g1 = names["GigabitEthernet1"]
    assert g1.index == yang.stable_index("GigabitEthernet1")  # type: ignore[attr-defined]
    assert g1.speed_bps == 1024000000 and g1.in_octets == 5432293472  # type: ignore[attr-defined]
    assert g1.out_octets == 2901845514 and g1.oper_up  # type: ignore[attr-defined]
    m = model_after(data)
    # admin-up port down: one alarm; the admin-down port none; both keyed by stable index
    assert link_alarms(m) == {f"ifIndex={yang.stable_index('GigabitEthernet2')}"}


@pytest.mark.parametrize(
    ("fixture", "tree"),
    [
        ("iosxe-interfaces-state.xml", "interfaces-state"),
        ("sysrepo-nmda-operational.xml", "interfaces"),
    ],
)
def test_indexes_and_alarms_stay_on_their_port_when_the_device_reorders(fixture, tree):
    root = load(fixture)
    container = root.find(f"{{{IF}}}{tree}")
    assert container is not None
    first = {i.name: i.index for i in yang.interfaces(root).values()}
    assert len(first) == len(container)
    m = model_after(root)
    before = {a.key for a in m.alarms.active("ne1")}
    assert before  # one port of each fixture is down
    rng = random.Random(7)
    for n in range(5):
        entries = list(container)
        rng.shuffle(entries)
        for e in entries:
            container.remove(e)
            container.append(e)
        assert {i.name: i.index for i in yang.interfaces(root).values()} == first
        evs = m.poll_ok(yang.poll_result("ne1", root, 101.0 + n))
        assert evs == [] and {a.key for a in m.alarms.active("ne1")} == before


def test_derived_index_collision_resolved_the_same_whatever_the_order(monkeypatch):
    # Force every name onto one hash value: the resolution must not depend on reply order.
    monkeypatch.setattr(yang, "stable_index", lambda name: yang.MAX_IF_INDEX + 1)
    entries = "".join(
        f"<interface><name>p{k}</name><oper-status>up</oper-status></interface>" for k in range(4)
    )
    reversed_ = "".join(
        f"<interface><name>p{k}</name><oper-status>up</oper-status></interface>"
        for k in reversed(range(4))
    )
    a = yang.interfaces(
        ET.fromstring(f'<interfaces-state xmlns="{IF}">{entries}</interfaces-state>')
    )
    b = yang.interfaces(
        ET.fromstring(f'<interfaces-state xmlns="{IF}">{reversed_}</interfaces-state>')
    )
    assert len(a) == 4 and {i.name: k for k, i in a.items()} == {i.name: k for k, i in b.items()}


def test_sysrepo_nmda_operational_without_mandatory_leaves():
    data = load("sysrepo-nmda-operational.xml")
    names = by_name(yang.interfaces(data))
    assert names["lo"].oper_status is OperStatus.UNKNOWN  # type: ignore[attr-defined]
    assert names["wlp0s20f3"].in_octets == 222429196  # type: ignore[attr-defined]
    assert all(i.admin_up for i in names.values())  # type: ignore[attr-defined]
    m = model_after(data)
    # enp0s31f6 is down: alarmed; lo reports unknown: not alarmed
    assert link_alarms(m) == {f"ifIndex={yang.stable_index('enp0s31f6')}"}


def test_sysrepo_split_trees_union_of_both():
    data = load("sysrepo-split-trees.xml")
    names = by_name(yang.interfaces(data))
    assert set(names) == {"eth1", "eth2", "eth3"}
    assert names["eth1"].oper_status is OperStatus.UNKNOWN  # configured, no state reported
    assert names["eth2"].oper_status is OperStatus.TESTING  # type: ignore[attr-defined]
    assert names["eth3"].oper_status is OperStatus.DORMANT  # type: ignore[attr-defined]
    assert link_alarms(model_after(data)) == set()


def test_nmda_with_origin_whitespace_and_comments_through_lxml():
    # The agent parses with lxml (comments removed, as xmlsafe does); ElementTree too.
    raw = (DATA / "nmda-origin.xml").read_bytes()
    parser = etree.XMLParser(remove_comments=True, resolve_entities=False)
    for root in (ET.fromstring(raw), etree.fromstring(raw, parser)):
        itf = yang.interfaces(root)
        assert sorted(itf) == [1, 2, 7, 8, 9]
        assert itf[7].speed_bps == 10**10 and itf[7].in_octets == 77
        assert not itf[8].admin_up and itf[8].name == "eth2"


def test_all_seven_oper_states_and_unknown_text():
    assert set(yang.OPER_STATUS_VALUES.values()) == set(OperStatus)
    for text, want in [*yang.OPER_STATUS_VALUES.items(), ("bogus", OperStatus.UNKNOWN)]:
        root = ET.fromstring(
            f'<interfaces-state xmlns="{IF}"><interface><name>x</name>'
            f"<oper-status>{text}</oper-status></interface></interfaces-state>"
        )
        assert next(iter(yang.interfaces(root).values())).oper_status is want


@pytest.mark.parametrize(
    ("entry", "count"),
    [
        ("<interface/>", 0),  # no key at all: skipped
        ("<interface><name></name></interface>", 0),
        ("<interface><name>a</name><if-index>zero</if-index></interface>", 1),
        ("<interface><name>b</name><if-index>0</if-index></interface>", 1),
        ("<interface><name>c</name><if-index>2147483648</if-index></interface>", 1),
        (
            "<interface><name>d</name><speed>fast</speed><statistics><in-octets>-</in-octets>"
            "</statistics></interface>",
            1,
        ),
    ],
)
def test_broken_leaves_never_break_the_poll(entry, count):
    root = ET.fromstring(f'<interfaces-state xmlns="{IF}">{entry}</interfaces-state>')
    assert len(yang.interfaces(root)) == count
    for i in yang.interfaces(root).values():
        assert i.index > yang.MAX_IF_INDEX and i.oper_status is OperStatus.UNKNOWN
        assert i.speed_bps == 0 and i.in_octets == 0


# -- link notifications ---------------------------------------------------------------------
def _notif(ns: str, body: str) -> ET.Element:
    return ET.fromstring(
        f'<notification xmlns="{yang.NOTIF_NS}"><eventTime>2024-01-01T00:00:00Z</eventTime>'
        f"{body.replace('NS', ns)}</notification>"
    )


def test_yuma_link_down_and_up_move_the_poll_alarm():
    n = yang.parse_notification(load("notif-yuma-link-down.xml"))
    assert n == yang.InterfaceChange(n.time, "ge-0/0/3", None, False)
    data = ET.fromstring(
        f'<interfaces-state xmlns="{IF}"><interface><name>ge-0/0/3</name>'
        "<oper-status>up</oper-status></interface></interfaces-state>"
    )
    m = model_after(data, Policy())
    key = AlarmKey("ne1", f"ifIndex={yang.stable_index('ge-0/0/3')}", "link-down")
    evs = nodal_netconf.device_notification(m, "ne1", n, 101.0)
    assert [(e.type, e.obj) for e in evs] == [(EventType.ALARM_RAISED, key.obj)]
    up = yang.parse_notification(
        _notif(yang.IFNOTIF_NS, '<link-up xmlns="NS"><if-name>ge-0/0/3</if-name></link-up>')
    )
    evs = nodal_netconf.device_notification(m, "ne1", up, 102.0)
    assert [e.type for e in evs] == [EventType.ALARM_CLEARED]
    assert not m.alarms.get(key).active  # type: ignore[union-attr]


def test_iosxe_if_mib_linkdown_admin_shutdown_is_no_alarm_but_a_cut_is():
    n = yang.parse_notification(load("notif-iosxe-linkdown.xml"))
    assert isinstance(n, yang.InterfaceChange)
    assert (n.name, n.if_index, n.oper_up, n.admin_up) == (None, 4, False, False)
    data = ET.fromstring(
        f'<interfaces-state xmlns="{IF}"><interface><name>GigabitEthernet4</name>'
        "<admin-status>up</admin-status><oper-status>up</oper-status><if-index>4</if-index>"
        "</interface></interfaces-state>"
    )
    m = model_after(data, Policy())
    assert nodal_netconf.device_notification(m, "ne1", n, 101.0) == []  # shut by an operator
    m = model_after(data, Policy())
    cut = yang.parse_notification(
        _notif(
            yang.IF_MIB_NS,
            '<linkDown xmlns="NS"><object-2><ifIndex>4</ifIndex><ifAdminStatus>up'
            "</ifAdminStatus></object-2><object-3><ifIndex>4</ifIndex><ifOperStatus>down"
            "</ifOperStatus></object-3></linkDown>",
        )
    )
    evs = nodal_netconf.device_notification(m, "ne1", cut, 101.0)
    assert [(e.type, e.obj, e.severity) for e in evs] == [
        (EventType.ALARM_RAISED, "ifIndex=4", Severity.MAJOR)
    ]
    assert "GigabitEthernet4" in evs[0].text
    linkup = yang.parse_notification(
        _notif(
            yang.IF_MIB_NS, '<linkUp xmlns="NS"><object-1><ifIndex>4</ifIndex></object-1></linkUp>'
        )
    )
    assert [e.type for e in nodal_netconf.device_notification(m, "ne1", linkup, 102.0)] == [
        EventType.ALARM_CLEARED
    ]


@pytest.mark.parametrize(
    ("ns", "body"),
    [
        (yang.IFNOTIF_NS, '<link-down xmlns="NS"/>'),
        (yang.IFNOTIF_NS, '<link-up xmlns="NS"><if-name>  </if-name></link-up>'),
        (
            yang.IF_MIB_NS,
            '<linkDown xmlns="NS"><object-3><ifOperStatus>down</ifOperStatus>'
            "</object-3></linkDown>",
        ),
        (yang.IF_MIB_NS, '<linkUp xmlns="NS"><object-1><ifIndex>x</ifIndex></object-1></linkUp>'),
        (yang.IF_MIB_NS, '<linkUp xmlns="NS"><object-1><ifIndex>0</ifIndex></object-1></linkUp>'),
    ],
)
def test_malformed_link_notifications_raise_valueerror(ns, body):
    with pytest.raises(ValueError):
        yang.parse_notification(_notif(ns, body))


def test_every_table_entry_is_namespace_qualified():
    assert all(tag.startswith("{") and "}" in tag for tag in yang.NOTIFICATIONS)
    other = yang.parse_notification(
        _notif("urn:x", '<link-down xmlns="NS"><if-name>a</if-name></link-down>')
    )
    assert isinstance(other, yang.OtherNotification)  # same local name, other module


# -- RFC 6470 config change -------------------------------------------------------------------
def test_config_change_says_who_changed_what():
    n = yang.parse_notification(load("notif-config-change.xml"))
    assert isinstance(n, yang.ConfigChange)
    assert (n.user, n.session_id, n.datastore, len(n.edits)) == ("root", 22, "running", 6)
    assert n.edits[1] == ("create", "/if:interfaces/if:interface[if:name='XYZ']/if:enabled")
    m = model_after(load("sysrepo-split-trees.xml"))
    evs = nodal_netconf.device_notification(m, "ne1", n, 101.0)
    assert len(evs) == 1 and evs[0].type == nodal_netconf.CONFIG_CHANGE
    text = evs[0].text
    assert "user 'root'" in text and "session 22" in text and "(running)" in text
    assert "create /if:interfaces/if:interface[if:name='XYZ']/if:enabled" in text
    assert "and 1 more" in text and "notification {" not in text
    assert m.alarms.active("ne1") == []


def test_config_change_by_the_server_itself_defaults_to_running():
    n = yang.parse_notification(load("notif-config-change-server.xml"))
    assert isinstance(n, yang.ConfigChange) and n.user is None and n.datastore == "running"
    text = nodal_netconf.config_change_text(n)
    assert "the device itself" in text and "replace /sys:system/sys:clock" in text


# -- hello -----------------------------------------------------------------------------------------
def test_capability_summary_of_a_netopeer2_hello():
    caps = (DATA / "netopeer2-hello.txt").read_text().split()
    s = yang.capability_summary([*caps, "  urn:ietf:params:netconf:base:1.1?something \n"])
    assert s["netconf_base"] == ["1.0", "1.1"]
    assert "ietf-netconf" in s["yang_modules"] and "ietf-interfaces" in s["yang_modules"]
    assert "with-defaults:1.0" in s["netconf_features"]
    assert all("module" not in f and "?" not in f for f in s["netconf_features"])  # type: ignore[attr-defined]


def test_refused_host_key_means_not_reachable():
    m = model_after(load("iosxe-interfaces-state.xml"))
    assert m.states["ne1"].reachable is True
    nodal_netconf.host_key_refused(m, "ne1", "host key SHA256:abc does not match", 200.0)
    st = m.states["ne1"]
    assert st.reachable is False and st.summary()["reachable"] is False

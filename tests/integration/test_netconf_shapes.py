"""Devices that report and announce the way real ones do (lab.netconf.shapes), polled by
the real NETCONF adapter and poller: state from either ietf-interfaces tree, no false link
alarms, standard link notifications raising and clearing the poll's alarm, RFC 6470
config changes as events, a sparse and reordered reply keeping its alarm keys."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from ncclient import manager

from agent.netconf import NetconfClient, NetconfTarget
from agent.netconf.poller import NetconfPoller, NetconfPollTarget, _NeSchedule
from lab.netconf import shapes
from lab.netconf.model import DeviceSpec, Neighbour
from lab.netconf.sim import ThreadedSimulator
from lab.recording import if_name
from shared import nodal_netconf, yang
from shared.config import PollingConfig
from shared.model import AlarmKey, Event, NetworkElement, OperStatus, Protocol
from shared.nodal import NodalModel, Policy
from tests.helpers.ncsim import CREDS, PASSWORD, ncclient_session
from tests.helpers.waiting import eventually, random_base

pytestmark = pytest.mark.timeout(60)

NS = {"if": shapes.NS_IF, "nc": "urn:ietf:params:xml:ns:netconf:base:1.0"}
# name -> how it reports (the three shapes of the default fleet, plus a sparse NMDA one)
DEVICES: dict[str, dict[str, object]] = {
    "nmda1": {"shape": "nmda", "link_notifications": ["lab"], "link_alarm": False},
    "both1": {
        "shape": "both",
        "shuffle": True,
        "link_notifications": ["if-mib"],
        "link_alarm": False,
    },
    "legacy1": {
        "shape": "legacy",
        "sparse": True,
        "shuffle": True,
        "link_notifications": ["interfaces-notifications"],
        "link_alarm": False,
    },
    "sparse1": {
        "shape": "nmda",
        "sparse": True,
        "shuffle": True,
        "link_notifications": ["interfaces-notifications"],
        "link_alarm": False,
    },
}
PORTS = 8  # ports 1..4 in use (up), 5..8 unused (admin down)


def _spec(name: str, address: str) -> DeviceSpec:
    base = DeviceSpec(name, address, 0, "router", PORTS, {1: Neighbour("far", "ge-0/0/9", "x")})
    return DeviceSpec.from_json(base.to_json() | DEVICES[name])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[ThreadedSimulator]:
    base = random_base().rsplit(".", 1)[0]
    specs = [_spec(n, f"{base}.{k}") for k, n in enumerate(DEVICES, start=1)]
    with ThreadedSimulator(tmp_path, CREDS, specs) as ts:
        yield ts


def _get(m: manager.Manager) -> etree._Element:
    return etree.fromstring(m.get().xml.encode())


def _names(doc: etree._Element, tree: str) -> list[str]:
    return [n.text or "" for n in doc.iterfind(f".//if:{tree}/if:interface/if:name", NS)]


def test_simulator_serves_each_shape_to_a_stock_client(lab: ThreadedSimulator) -> None:
    """Checked with plain ncclient and XPath, not with the parser under test."""
    docs = {}
    for name in DEVICES:
        with ncclient_session(lab, name) as m:
            docs[name] = (_get(m), _get(m), list(m.server_capabilities))
    nmda, _, nmda_caps = docs["nmda1"]
    assert len(_names(nmda, "interfaces")) == PORTS and not _names(nmda, "interfaces-state")
    assert nmda.findtext(".//if:interfaces/if:interface/if:if-index", namespaces=NS) == "1"
    assert any("ietf-interfaces&revision=2018-02-20" in c for c in nmda_caps)

    legacy, legacy2, caps = docs["legacy1"]
    assert len(_names(legacy, "interfaces")) == PORTS == len(_names(legacy, "interfaces-state"))
    assert legacy.find(".//if:interfaces/if:interface/if:oper-status", NS) is None  # config
    assert legacy.find(".//if:interfaces/if:interface/if:type", NS) is not None
    state = legacy.find(".//if:interfaces-state/if:interface", NS)
    assert state is not None and state.findtext("if:oper-status", namespaces=NS) in ("up", "down")
    for leaf in ("if-index", "admin-status", "type", "phys-address"):  # sparse
        assert legacy.find(f".//if:interfaces-state/if:interface/if:{leaf}", NS) is None
    assert state.findtext("if:speed", namespaces=NS) == str(shapes.SPEED_BPS)
    assert _names(legacy, "interfaces-state") != _names(legacy2, "interfaces-state")  # shuffled
    assert any("interfaces-notifications" in c for c in caps)
    assert any("ietf-interfaces&revision=2014-05-08" in c for c in caps)

    both, _, caps = docs["both1"]
    assert sorted(_names(both, "interfaces")) == sorted(_names(both, "interfaces-state"))
    assert both.find(".//if:interfaces/if:interface/if:oper-status", NS) is not None
    assert both.find(".//if:interfaces-state/if:interface/if:if-index", NS) is not None
    assert any("smiv2:IF-MIB" in c for c in caps)

    sparse = docs["sparse1"][0]
    assert sparse.find(".//if:interfaces/if:interface/if:oper-status", NS) is not None
    assert sparse.find(".//if:interfaces/if:interface/if:if-index", NS) is None


def test_simulator_sends_each_link_notification_style(lab: ThreadedSimulator) -> None:
    want = {
        "nmda1": "<interface-state-change",
        "both1": f'<linkDown xmlns="{shapes.NS_IF_MIB}"><object-2><ifIndex>3</ifIndex>',
        "legacy1": f'<link-down xmlns="{shapes.NS_IFNOTIF}"><if-name>ge-0/0/2</if-name>',
    }
    for name, start in want.items():
        with ncclient_session(lab, name) as m:
            m.create_subscription()
            lab.call(lab.sim.if_down, name, 3)
            n = m.take_notification(timeout=3)
            assert n is not None and start in n.notification_xml
            assert m.take_notification(timeout=0.3) is None  # link_alarm off: nothing else
            lab.call(lab.sim.set_description, name, 2, "to far", "alice")
            change = m.take_notification(timeout=3)
        assert change is not None and "<username>alice</username>" in change.notification_xml
        assert "if:name='ge-0/0/1']/if:description" in change.notification_xml


def _pollers(
    lab: ThreadedSimulator, client: NetconfClient, events: list[Event]
) -> tuple[NodalModel, NetconfPoller, dict[str, _NeSchedule]]:
    # Never-up ports alarmed too: a port misread as down would show as an alarm at once.
    model = NodalModel("agent-test", Policy(alarm_never_up_ports=True))
    poller = NetconfPoller(client, model, events.extend, PollingConfig(interval=3600.0))
    scheds = {}
    for name, dev in lab.sim.devices.items():
        model.add_ne(name)
        target = NetconfTarget(
            dev.spec.address, dev.spec.port, "emsnc", PASSWORD, host_key=dev.public_key
        )
        ne = NetworkElement(
            name, dev.spec.address, dev.spec.port, protocols=frozenset({Protocol.NETCONF})
        )
        # Polls driven by the test (no schedule), so only notifications move alarms between.
        sched = poller._new_schedule(NetconfPollTarget(ne, target))
        poller._nes[name] = sched
        scheds[name] = sched
    return model, poller, scheds


def _key(name: str, port: int) -> str:
    """The alarm object of port ``port`` of a device as emspool keys it."""
    sparse = bool(DEVICES[name].get("sparse"))
    return f"ifIndex={yang.stable_index(if_name('router', port)) if sparse else port}"


async def test_agent_polls_every_shape_without_false_alarms(lab: ThreadedSimulator) -> None:
    client = NetconfClient(workers=4)
    events: list[Event] = []
    model, poller, scheds = _pollers(lab, client, events)
    try:
        for sched in scheds.values():
            await poller.poll_once(sched)
        await asyncio.sleep(0.3)
        first = {n: dict(model.states[n].interfaces) for n in DEVICES}
        for sched in scheds.values():
            await poller.poll_once(sched)
        assert poller.stats["failures"] == 0
        assert model.alarms.active() == []  # no port misread as down
        for name in DEVICES:
            st = model.states[name]
            assert st.reachable and len(st.interfaces) == PORTS, name
            # the same port under the same index on both polls (shuffled replies included)
            assert {i: s.name for i, s in st.interfaces.items()} == {
                i: s.name for i, s in first[name].items()
            }
            used = [i for i in st.interfaces.values() if i.admin_up]
            assert len(used) == PORTS // 2, name
            assert all(i.oper_status is OperStatus.UP for i in used), name
            assert all(i.speed_bps == shapes.SPEED_BPS and i.in_octets > 0 for i in used), name
            assert all(i.in_bps is not None and i.in_bps > 0 for i in used), name
            assert st.config["netconf_base"] == ["1.0", "1.1"], name
    finally:
        await poller.close()
        await client.aclose()


async def test_standard_link_notifications_raise_and_clear_the_poll_alarm(
    lab: ThreadedSimulator,
) -> None:
    client = NetconfClient(workers=4)
    events: list[Event] = []
    model, poller, scheds = _pollers(lab, client, events)
    try:
        for sched in scheds.values():
            await poller.poll_once(sched)
        await eventually(lambda: all(s.subscribed for s in scheds.values()), 5.0, "subscriptions")
        polls = poller.stats["polls"]
        for name in DEVICES:
            key = AlarmKey(name, _key(name, 3), "link-down")
            t0 = time.monotonic()
            lab.call(lab.sim.if_down, name, 3)
            await eventually(lambda k=key: model.alarms.get(k) is not None, 2.0, f"{name} down")
            assert time.monotonic() - t0 < 2.0
            alarm = model.alarms.get(key)
            assert alarm is not None and alarm.active and "ge-0/0/2" in alarm.text
            lab.call(lab.sim.if_up, name, 3)
            await eventually(
                lambda k=key: not getattr(model.alarms.get(k), "active", True), 2.0, f"{name} up"
            )
        assert poller.stats["polls"] == polls  # notifications alone moved the alarms
        # The next poll agrees: nothing to raise or clear, no alarm on another port.
        for sched in scheds.values():
            await poller.poll_once(sched)
        assert model.alarms.active() == []
        # An operator edit arrives as an informational event naming who did what.
        lab.call(lab.sim.set_description, "legacy1", 2, "uplink to far", "alice", 0)
        await eventually(
            lambda: any(e.type == nodal_netconf.CONFIG_CHANGE for e in events), 2.0, "config"
        )
        change = next(e for e in events if e.type == nodal_netconf.CONFIG_CHANGE)
        assert change.ne == "legacy1" and "user 'alice'" in change.text
        assert "/if:interfaces/if:interface[if:name='ge-0/0/1']/if:description" in change.text
        assert not any(e.text.startswith("NETCONF notification {") for e in events)
    finally:
        await poller.close()
        await client.aclose()


async def test_alarm_keys_survive_reordering_and_a_change_of_tree(lab: ThreadedSimulator) -> None:
    """A sparse device (no if-index) with a port down: reordered replies, then the same
    device moved from the NMDA tree to /interfaces-state, keep the one alarm on its port."""
    client = NetconfClient(workers=2)
    events: list[Event] = []
    model, poller, scheds = _pollers(lab, client, events)
    try:
        lab.call(lab.sim.if_down, "sparse1", 2)
        await poller.poll_once(scheds["sparse1"])
        key = AlarmKey("sparse1", _key("sparse1", 2), "link-down")
        assert [a.key for a in model.alarms.active("sparse1")] == [key]
        for k in range(6):  # a new order every reply; halfway the device changes tree
            if k == 3:
                lab.call(functools.partial(lab.sim.configure, "sparse1", shape="legacy"))
            await poller.poll_once(scheds["sparse1"])
            assert [a.key for a in model.alarms.active("sparse1")] == [key]
        assert [e.type for e in events] == ["alarm-raised"]
    finally:
        await poller.close()
        await client.aclose()

"""One real agent managing a mixed lab: SNMP devices and NETCONF devices in one ring.

The NETCONF devices take the default fleet's shapes in turn (lab.netconf.fleet.FLEET_MIX):
an NMDA server with the lab's notifications, one serving both ietf-interfaces trees that
sends IF-MIB linkDown/linkUp, and a pre-NMDA one with a sparse, reordered
/interfaces-state that sends yuma123 link-down/link-up.
"""

from __future__ import annotations

import json
import socket

import pytest

from agent.busclient import BusClient
from lab.fleet import Lab
from lab.harness import free_port
from lab.netconf.control import NetconfControl
from lab.netconf.fleet import FLEET_MIX
from lab.recording import if_name
from shared import yang
from tests.helpers.agentproc import agent_for_lab
from tests.helpers.waiting import random_base, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    lab = Lab.create(
        root / "lab",
        count=6,
        topology_kind="ring",
        base_address=random_base(),
        port=free_port(socket.SOCK_DGRAM),
        netconf_share=0.5,
        netconf_port=free_port(),
    )
    lab.start()
    try:
        with agent_for_lab(lab, root, "mixed-agent", 2.0) as a:
            yield {"lab": lab, "router": a.client, "root": root}
    finally:
        lab.stop()


def nc_devices(lab: Lab) -> list[str]:
    return [d.name for d in lab.devices if d.protocol == "netconf"]


def port_key(lab: Lab, ne: str, ifindex: int) -> str:
    """The alarm object emspool uses for a port: sparse devices give no if-index."""
    k = nc_devices(lab).index(ne)
    if FLEET_MIX[k % len(FLEET_MIX)].get("sparse"):
        return f"ifIndex={yang.stable_index(if_name(lab.device(ne).kind, ifindex))}"
    return f"ifIndex={ifindex}"


def find(router: BusClient, ne: str, type_: str, obj: str = "") -> dict | None:
    for a in router.request("alarms", {"ne": ne}, timeout=3.0):
        if a["type"] == type_ and a["obj"] == obj:
            return a
    return None


def test_netconf_nes_are_polled_with_interfaces_and_lldp(mixed):
    lab, router = mixed["lab"], mixed["router"]
    names = set(nc_devices(lab))
    assert len(names) == 3  # one of each shape in FLEET_MIX

    def polled():
        states = {s["name"]: s for s in router.request("ne_states")}
        ok = [
            n for n in names if states.get(n, {}).get("reachable") and states[n]["interfaces"] >= 24
        ]
        return states if len(ok) == len(names) else None

    states = wait_until(polled, 30, what="NETCONF NEs polled")
    assert all(states[n]["neighbours"] >= 2 for n in names)
    assert all(states[n]["sys_name"] == n for n in names)
    for n in names:  # the <get-config> summary of each NETCONF NE
        cfg = states[n]["config"]
        assert cfg["hostname"] == n and cfg["interfaces"] >= 24
        assert 0 < cfg["interfaces_enabled"] < cfg["interfaces"]
        assert "ietf-alarms" in cfg["yang_modules"] and "ietf-netconf" in cfg["yang_modules"]
        assert cfg["netconf_base"] == ["1.0", "1.1"]  # no module text among base versions
    # Whatever tree a device reports state in, no port is misread as down.
    assert all(states[n]["interfaces_down"] == 0 for n in names)
    for n in names:
        assert not [a for a in router.request("alarms", {"ne": n}) if a["type"] == "link-down"]


@pytest.mark.parametrize("k", [0, 1, 2], ids=["nmda-lab", "both-if-mib", "legacy-yuma"])
def test_netconf_interface_down_is_an_alarm_within_a_second(mixed, k):
    lab, router = mixed["lab"], mixed["router"]
    ne = nc_devices(lab)[k]
    control = NetconfControl(lab.state_dir)

    def subscribed() -> bool:  # the agent polled the NE and holds its subscription
        return any(d["name"] == ne and d["subscribed"] for d in control.status())

    wait_until(subscribed, 30, what="first poll and subscription")
    obj = port_key(lab, ne, 3)
    lab.if_down(ne, 3)
    a = wait_until(lambda: find(router, ne, "link-down", obj), 1.0, 0.05, "link-down")
    assert a["active"] and a["severity"] == "major"
    lab.if_up(ne, 3)
    wait_until(lambda: find(router, ne, "link-down", obj) is None, 1.0, 0.05, "clear")


def test_config_change_is_an_event_naming_the_user(mixed):
    lab, router = mixed["lab"], mixed["router"]
    ne = nc_devices(lab)[2]
    NetconfControl(lab.state_dir).set_description(ne, 2, "to the core", "alice")

    def logged():
        events = router.request("events", {"ne": ne, "limit": 50})
        return next((e for e in events if e["type"] == "config-change"), None)

    e = wait_until(logged, 10, 0.1, "config-change event in the log")
    assert "user 'alice'" in e["text"] and "/if:description" in e["text"]


def test_device_alarm_raised_and_cleared_by_notification(mixed):
    lab, router = mixed["lab"], mixed["router"]
    ne = nc_devices(lab)[1]
    lab.raise_alarm(ne, "lab:fan-failure", "fan-tray-1", severity="critical", text="fan 1 stopped")

    def fan():
        return next(
            (a for a in router.request("alarms", {"ne": ne}) if "fan-failure" in a["type"]),
            None,
        )

    a = wait_until(fan, 2.0, 0.05, "fan alarm")
    assert a["severity"] == "critical" and "fan 1 stopped" in a["text"]
    lab.clear_alarm(ne, "lab:fan-failure", "fan-tray-1")
    wait_until(lambda: fan() is None, 2.0, 0.05, "fan alarm cleared")


def test_netconf_ne_unreachable_and_back(mixed):
    lab, router = mixed["lab"], mixed["router"]
    ne = nc_devices(lab)[0]
    lab.unreachable(ne)
    try:
        a = wait_until(lambda: find(router, ne, "ne-unreachable"), 20, what="unreachable")
        assert a["severity"] == "critical"
    finally:
        lab.reachable(ne)
    wait_until(lambda: find(router, ne, "ne-unreachable") is None, 30, what="reachable again")


def test_no_netconf_secret_in_agent_log(mixed):
    lab = mixed["lab"]
    log = (mixed["root"] / "agent.log").read_text()
    assert lab.state.netconf_password not in log


def test_lldp_links_across_protocols_reach_the_database(mixed):
    lab, router = mixed["lab"], mixed["router"]
    want = {
        frozenset({(k["a"], k["a_port"]), (k["b"], k["b_port"])})
        for k in json.loads(lab.inventory_path.read_text())["links"]
    }

    def stored():
        got = {
            frozenset({(k["a"], k["a_port"]), (k["b"], k["b_port"])})
            for k in router.request("db.links", {"source": "lldp"})["items"]
        }
        return got if got == want else None

    wait_until(stored, 30, 0.5, "LLDP links in the database")

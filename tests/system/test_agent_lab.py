"""One real agent process against a real lab of snmpsim devices, on SQLite."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.busclient import BusClient, Unreachable
from agent.db import Database
from lab.fleet import Lab
from lab.harness import bus_key, client_for, free_port, start_agent, wait_for_agent
from shared.model import LinkAlarms
from tests.helpers.agentproc import agent_for_lab
from tests.helpers.waiting import random_base, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("sys")
    lab = Lab.create(
        root / "lab", count=4, topology_kind="ring", base_address=random_base(), port=free_port(2)
    )
    lab.start()
    try:
        with agent_for_lab(lab, root, "sys-agent", 2.0) as a:
            yield {
                "lab": lab,
                "router": a.client,  # a bus client of this agent (an operator's key)
                "trap": a.trap,
                "proc": a.proc,
                "db_url": a.db_url,
                "root": root,
                "node": "sys-agent",
            }
    finally:
        lab.stop()


def as_user(pool, name: str) -> BusClient:
    """A client with an operator key of this name, made as `emspool keys create` does."""
    url = pool["db_url"]
    client = client_for(url, bus_key(url, pool["root"], name), pool["node"])

    def accepted() -> bool:  # a new key is taken without a restart, within seconds
        try:
            return bool(client.request("ping", timeout=2.0))
        except Unreachable:
            return False

    wait_until(accepted, 15, 0.2, f"key {name} allowed")
    return client


def alarms(router: BusClient, **args) -> list[dict]:
    return router.request("alarms", args, timeout=3.0)


def find(router: BusClient, ne: str, type_: str, obj: str = "") -> dict | None:
    for a in alarms(router, ne=ne):
        if a["type"] == type_ and a["obj"] == obj:
            return a
    return None


def test_all_devices_polled_over_v2c_and_v3(pool):
    lab, router = pool["lab"], pool["router"]
    profiles = {d.profile for d in lab.devices}
    assert profiles == {"lab-v2c", "lab-v3"}  # both SNMP versions are exercised

    def polled():
        states = router.request("ne_states")
        ok = [s for s in states if s["reachable"] and s["interfaces"] >= 24]
        return states if len(ok) == len(lab.devices) else None

    states = wait_until(polled, 30, what="every NE polled")
    assert all(s["neighbours"] >= 2 for s in states)  # ring: LLDP on both sides


def test_interface_down_raises_and_up_clears(pool):
    lab, router = pool["lab"], pool["router"]
    ne = lab.devices[0].name
    lab.if_down(ne, 5)
    a = wait_until(lambda: find(router, ne, "link-down", "ifIndex=5"), 15, what="link-down")
    assert a["severity"] == "major" and a["active"]
    lab.if_up(ne, 5)
    wait_until(lambda: find(router, ne, "link-down", "ifIndex=5") is None, 15, what="clear")


def test_link_down_trap_is_visible_within_a_second(pool):
    lab, router = pool["lab"], pool["router"]
    ne = lab.devices[1].name  # a v3 device in the lab's alternation
    lab.if_down(ne, 7)
    lab.send_trap(ne, "linkDown", pool["trap"], ifindex=7)
    a = wait_until(lambda: find(router, ne, "link-down", "ifIndex=7"), 1.0, 0.05, "trap alarm")
    assert a["active"]
    lab.if_up(ne, 7)
    lab.send_trap(ne, "linkUp", pool["trap"], ifindex=7)
    wait_until(lambda: find(router, ne, "link-down", "ifIndex=7") is None, 1.0, 0.05, "clear")


def test_unreachable_and_back(pool):
    lab, router = pool["lab"], pool["router"]
    ne = lab.devices[2].name
    lab.unreachable(ne)
    try:
        a = wait_until(lambda: find(router, ne, "ne-unreachable"), 15, what="unreachable")
        assert a["severity"] == "critical"
    finally:
        lab.reachable(ne)
    wait_until(lambda: find(router, ne, "ne-unreachable") is None, 15, what="reachable")


def test_restart_is_detected(pool):
    lab, router = pool["lab"], pool["router"]
    ne = lab.devices[3].name
    lab.restart(ne)  # no trap: the sysUpTime drop alone must tell
    a = wait_until(lambda: find(router, ne, "device-restart"), 15, what="restart alarm")
    assert a["severity"] == "warning"
    with as_user(pool, "bob") as bob:
        bob.request("ack", {"ne": ne, "type": "device-restart"})
    pool["restart_alarm"] = a  # the agent restart test expects it back, acked by bob


def test_ack_and_event_log(pool):
    lab, router = pool["lab"], pool["router"]
    ne = lab.devices[0].name
    lab.if_down(ne, 9)
    wait_until(lambda: find(router, ne, "link-down", "ifIndex=9"), 15, what="alarm")
    with as_user(pool, "alice") as alice:
        # The authenticated key's name is recorded, not the name a client claims.
        alice.request("ack", {"ne": ne, "obj": "ifIndex=9", "type": "link-down", "user": "eve"})
    assert find(router, ne, "link-down", "ifIndex=9")["acked_by"] == "alice"
    lab.if_up(ne, 9)
    wait_until(lambda: find(router, ne, "link-down", "ifIndex=9") is None, 15, what="clear")

    def logged():
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "agent.cli",
                "--db",
                pool["db_url"],
                "--key",
                str(bus_key(pool["db_url"], pool["root"], "alice")),
                "--json",
                "events",
                "--ne",
                ne,
                "--limit",
                "200",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        kinds = {(e["type"], e["obj"]) for e in json.loads(out.stdout)["events"]}
        want = {
            ("alarm-raised", "ifIndex=9"),
            ("alarm-acked", "ifIndex=9"),
            ("alarm-cleared", "ifIndex=9"),
        }
        return want <= kinds

    wait_until(logged, 10, 0.5, "events in the database")


def test_secrets_never_in_log_or_replies(pool):
    lab, router = pool["lab"], pool["router"]
    state = lab.state
    secrets = [state.community, state.auth_key, state.priv_key]
    status = json.dumps(router.request("status"))
    nes = json.dumps(router.request("nes"))
    text = (Path(pool["root"]) / "agent.log").read_text()
    for s in secrets:
        assert s not in status and s not in nes and s not in text


def test_unmanaging_or_removing_an_ne_closes_its_alarms_with_a_reason(pool):
    lab, router = pool["lab"], pool["router"]
    gone, paused = lab.devices[1].name, lab.devices[2].name
    lab.if_down(gone, 11)
    lab.unreachable(paused)
    db = Database.open(pool["db_url"])
    try:
        wait_until(lambda: find(router, gone, "link-down", "ifIndex=11"), 15, what="link-down")
        wait_until(lambda: find(router, paused, "ne-unreachable"), 15, what="unreachable")
        db.remove_ne(gone)
        db.update_ne(paused, managed=False)
        router.request("reload")

        def closed(ne: str, alarm_type: str, why: str) -> bool:
            return any(
                e.type == "alarm-cleared" and e.alarm_type == alarm_type and why in e.text
                for e in db.query_events(ne=ne, limit=50)
            )

        wait_until(lambda: closed(gone, "link-down", "removed"), 15, 0.3, "closed on removal")
        wait_until(lambda: closed(paused, "ne-unreachable", "unmanaged"), 15, 0.3, "closed")
        assert find(router, gone, "link-down", "ifIndex=11") is None
    finally:
        lab.reachable(paused)
        lab.if_up(gone, 11)
        db.update_ne(paused, managed=True)
        db.import_inventory(json.loads(lab.inventory_path.read_text()))
        db.close()
        router.request("reload")


def _never_up(kind: str) -> set[int]:
    """ifIndexes a lab device boots with admin up but not up: unconnected ports, empty SFP
    cages (notPresent) and, on routers, the VLAN unit of an unconnected port."""
    if kind == "switch":
        return set(range(25, 31)) | set(range(45, 49))
    return {13, 14, 15, 26}


def test_onboarded_devices_raise_no_alarm_for_ports_never_up_but_do_for_ports_that_fail(pool):
    lab, router = pool["lab"], pool["router"]
    sw = lab.devices[2]
    assert sw.kind == "switch"

    def polled():
        states = {s["name"]: s for s in router.request("ne_states")}
        st = states.get(sw.name)
        return states if st and st["reachable"] and st["polls"] >= 2 else None

    states = wait_until(polled, 30, what="the switch polled twice")
    # The lab switch really has such ports (6 unconnected + 4 empty cages report down/...).
    assert states[sw.name]["interfaces"] == 49 and states[sw.name]["interfaces_down"] >= 6
    assert all(s["problems"] == {} for s in states.values())
    db = Database.open(pool["db_url"])
    try:
        for dev in lab.devices:
            raised = {
                e.obj
                for e in db.query_events(ne=dev.name, types=["alarm-raised"], limit=1000)
                if e.alarm_type == "link-down"
            }
            quiet = {f"ifIndex={i}" for i in _never_up(dev.kind)}
            assert not raised & quiet, (dev.name, sorted(raised & quiet))
    finally:
        db.close()
    # A port that was up and goes down does alarm; on a router its VLAN unit goes
    # lowerLayerDown with it and alarms too (it was up before).
    rtr = lab.devices[0]
    lab.if_down(rtr.name, 2)
    try:
        wait_until(lambda: find(router, rtr.name, "link-down", "ifIndex=2"), 15, what="port")
        sub = wait_until(
            lambda: find(router, rtr.name, "link-down", f"ifIndex={rtr.ports + 1}"), 15
        )
        assert sub["active"] and "ge-0/0/1.100" in sub["text"]
    finally:
        lab.if_up(rtr.name, 2)
    wait_until(lambda: find(router, rtr.name, "link-down", "ifIndex=2") is None, 15, what="clear")
    wait_until(lambda: find(router, rtr.name, "link-down", f"ifIndex={rtr.ports + 1}") is None, 15)


def test_ne_with_link_alarms_monitor_alarms_its_never_up_ports(pool):
    lab, router = pool["lab"], pool["router"]
    sw = lab.devices[2]
    quiet = {f"ifIndex={i}" for i in _never_up("switch")}

    def link_down_objects() -> set[str]:
        return {a["obj"] for a in alarms(router, ne=sw.name) if a["type"] == "link-down"}

    db = Database.open(pool["db_url"])
    try:
        assert not link_down_objects() & quiet
        db.update_ne(sw.name, link_alarms=LinkAlarms.MONITOR)
        router.request("reload")
        got = wait_until(lambda: quiet <= link_down_objects() or None, 20, what="monitor")
        assert got
        texts = {a["obj"]: a["text"] for a in alarms(router, ne=sw.name)}
        assert "Ethernet1/45" in texts["ifIndex=45"]  # an empty cage, alarmed on request
    finally:
        # Back to the default: the never-up ports' alarms clear on the next poll.
        db.update_ne(sw.name, link_alarms=LinkAlarms.DEFAULT)
        db.close()
        router.request("reload")
    wait_until(lambda: not link_down_objects() & quiet, 20, what="cleared under default")


def _states(router: BusClient) -> dict[str, dict]:
    return {s["name"]: s for s in router.request("ne_states")}


def test_sigterm_flushes_and_exits_cleanly(pool):
    # Runs last in this module (pytest keeps file order): it stops the agent.
    proc = pool["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    db = Database.open(pool["db_url"])
    try:
        texts = [e.text for e in db.query_events(limit=20) if e.type == "agent"]
    finally:
        db.close()
    assert "agent stopped" in texts


def test_a_restarted_agent_rebuilds_standing_alarms_from_the_event_log(pool):
    # After the SIGTERM test: a new agent process on the same database and config.
    lab, root = pool["lab"], pool["root"]
    before = pool["restart_alarm"]
    proc = start_agent(root / "agent.toml", root / "agent.log")
    try:
        wait_for_agent(pool["router"], proc, 30.0)
        a = wait_until(
            lambda: find(pool["router"], before["ne"], "device-restart"), 10, what="restored alarm"
        )
        assert a["raised_at"] == pytest.approx(before["raised_at"])
        assert a["acked_by"] == "bob"
        states = pool["router"].request("ne_states")
        assert {s["name"] for s in states} == {d.name for d in lab.devices}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_bad_config_exits_nonzero_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[agent]\nnode_id = "x"\n[polling]\ninterval = "fast"\n')
    out = subprocess.run(
        [sys.executable, "-m", "agent.main", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "polling.interval: expected a number" in out.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "agent.main", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr

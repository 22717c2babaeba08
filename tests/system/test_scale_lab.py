"""A real agent process polling a few hundred NEs of the scale responder (lab.scale): every
NE polled over v2c or v3 with no alarm, and the lab's faults raising and clearing alarms."""

from __future__ import annotations

import random

import pytest

from lab.harness import (
    bus_key,
    client_for,
    sqlite_pool,
    start_agent,
    stop_process,
    wait_for_agent,
    write_agent_config,
)
from lab.scale.fleet import ScaleLab
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

COUNT = 300


@pytest.fixture(scope="module")
def scale(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    # A /16 of our own in 127/8: 300 devices span two /24s.
    base = f"127.{random.randint(100, 250)}.0.0"
    lab = ScaleLab.create(root / "lab", COUNT, base_address=base, port=random.randint(20000, 60000))
    db_url = sqlite_pool(root / "emspool.db", lab.inventory())
    config = root / "agent.toml"
    router, trap_port = write_agent_config(
        config, "scale-agent", root / "agent", db_url, 5.0, polling={"timeout": 2.0}
    )
    client = client_for(db_url, bus_key(db_url, root), router)
    lab.start(trap_target=("127.0.0.1", trap_port))
    proc = start_agent(config, root / "agent.log")
    try:
        wait_for_agent(client, proc, 30.0)
        yield {"lab": lab, "client": client}
    finally:
        client.close()
        stop_process(proc, 20.0)
        lab.stop()


def alarms(client, **args) -> list[dict]:
    return client.request("alarms", args, timeout=5.0)


def find(client, ne: str, type_: str, obj: str = "") -> dict | None:
    for a in alarms(client, ne=ne):
        if a["type"] == type_ and a["obj"] == obj:
            return a
    return None


def test_every_ne_polled_and_no_alarm(scale):
    lab, client = scale["lab"], scale["client"]
    profiles = {d["profile"] for d in lab.inventory()["devices"]}
    assert profiles == {"lab-v2c", "lab-v3"}

    def polled():
        states = client.request("ne_states", timeout=5.0)
        ok = [s for s in states if s["reachable"] and s["interfaces"] >= 24]
        return states if len(ok) == COUNT else None

    states = wait_until(polled, 90, 1.0, what="every NE polled")
    assert all(s["neighbours"] >= 2 for s in states)  # ring: LLDP both ways
    assert alarms(client) == []
    # The responder saw every NE asked, from the agent's sockets.
    polls = lab.control.polls()
    assert len(polls) == COUNT and all(p[0] > 0 and p[2] > 0 for p in polls.values())


def test_if_down_raises_with_a_trap_and_if_up_clears(scale):
    lab, client = scale["lab"], scale["client"]
    ne = lab.names[7]
    lab.control.if_down(ne, 3)  # a linkDown trap goes to the agent's trap port
    a = wait_until(lambda: find(client, ne, "link-down", "ifIndex=3"), 15, 0.2, "link-down")
    assert a["severity"] == "major" and a["active"]
    lab.control.if_up(ne, 3)
    wait_until(lambda: find(client, ne, "link-down", "ifIndex=3") is None, 15, 0.2, "clear")
    assert lab.control.status()["stats"]["traps_sent"] >= 2


def test_unreachable_and_back(scale):
    lab, client = scale["lab"], scale["client"]
    ne = lab.names[12]
    lab.control.unreachable(ne)
    try:
        a = wait_until(lambda: find(client, ne, "ne-unreachable"), 30, 0.5, "unreachable")
        assert a["severity"] == "critical"
    finally:
        lab.control.reachable(ne)
    wait_until(lambda: find(client, ne, "ne-unreachable") is None, 30, 0.5, "reachable")


def test_restart_is_detected(scale):
    lab, client = scale["lab"], scale["client"]
    ne = lab.names[21]  # v3 in the lab's alternation: the engine's boots grow too
    lab.control.restart(ne)
    a = wait_until(lambda: find(client, ne, "device-restart"), 30, 0.5, "restart alarm")
    assert a["severity"] == "warning"

"""The scale responder (lab.scale) from the poller's side: the agent's own SNMP client over
v2c and v3 (pinned engine IDs), what each device records of its requests, the faults and
the traps they send from the device's own address."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from agent.snmp import SnmpClient, SnmpTarget
from lab.scale.fleet import ScaleLab
from shared import ber, mib, usm
from shared.errors import SnmpTimeout
from shared.model import CredentialProfile, SnmpVersion

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    base = f"127.{random.randint(100, 250)}.{random.randint(1, 200)}.0"
    lab = ScaleLab.create(root / "lab", 8, base_address=base, port=random.randint(20000, 60000))
    lab.start()
    yield lab
    lab.stop()


def targets(lab: ScaleLab, **overrides) -> dict[str, SnmpTarget]:
    inv = lab.inventory()
    profiles: dict[str, CredentialProfile] = {}
    for p in inv["profiles"]:
        if p["version"] == "3":
            profiles[p["name"]] = CredentialProfile(
                p["name"],
                SnmpVersion.V3,
                user=p["user"],
                auth_protocol=p["auth_protocol"],
                auth_key=p["auth_key"],
                priv_protocol=p["priv_protocol"],
                priv_key=p["priv_key"],
            )
        else:
            profiles[p["name"]] = CredentialProfile(
                p["name"], SnmpVersion.V2C, community=overrides.get("community", p["community"])
            )
    return {
        d["name"]: SnmpTarget(
            d["address"],
            d["port"],
            profiles[d["profile"]],
            timeout=overrides.get("timeout", 1.0),
            retries=0,
            engine_id=d["engine_id"],
        )
        for d in inv["devices"]
    }


async def poll(target: SnmpTarget) -> tuple[dict, dict]:
    client = SnmpClient()
    try:
        got = await client.get(target, [mib.SYS_UPTIME, mib.SYS_NAME, (*mib.IF_IN_OCTETS, 5001)])
        walked = await client.walk_many(target, mib.FAST_COLUMNS_MIXED + mib.SLOW_COLUMNS)
        lldp = await client.walk_many(target, mib.LLDP_COLUMNS)
        return got, {"interfaces": mib.interfaces(walked, {}), "lldp": mib.neighbours(lldp)}
    finally:
        client.close()


def test_v2c_and_v3_answer_what_a_poll_reads(lab):
    for name, target in list(targets(lab).items())[:4]:
        got, found = asyncio.run(poll(target))
        assert got[mib.SYS_NAME] == name.encode()
        ifs = found["interfaces"]
        if name.startswith("sw"):  # 48 ports and a 10 Mb/s port with 32-bit counters only
            assert len(ifs) == 49 and ifs[5001].counter_bits == 32
            assert isinstance(got[(*mib.IF_IN_OCTETS, 5001)], int)
        else:  # 24 ports and two VLAN sub-interfaces
            assert len(ifs) == 26 and ifs[1].counter_bits == 64
        assert {n.remote_name for n in found["lldp"]} <= set(targets(lab))
        assert len(found["lldp"]) == 2  # a ring
    polls = lab.control.polls()
    assert all(polls[n][2] > 0 for n in list(polls)[:4])


def test_wrong_community_and_unreachable_get_no_answer(lab):
    name, target = next(iter(targets(lab, community="wrong", timeout=0.3).items()))
    with pytest.raises(SnmpTimeout):
        asyncio.run(poll(target))
    name, target = list(targets(lab, timeout=0.3).items())[2]
    lab.control.unreachable(name)
    try:
        before = lab.control.polls([name])[name][2]
        with pytest.raises(SnmpTimeout):
            asyncio.run(poll(target))
        assert lab.control.polls([name])[name][2] == before  # dropped requests are not counted
    finally:
        lab.control.reachable(name)
    asyncio.run(poll(target))


def test_mark_records_first_request_and_sources(lab):
    names = list(targets(lab))
    mark = lab.control.mark()
    assert all(p[1] == 0 and p[3] == 0 for p in lab.control.polls().values())
    target = targets(lab)[names[5]]
    asyncio.run(poll(target))
    asyncio.run(poll(target))  # another client, another source port
    p = lab.control.polls([names[5]])[names[5]]
    assert mark <= p[1] <= p[0] and p[3] == 2


def test_faults_change_answers_and_send_traps_from_the_device(lab):
    names = list(targets(lab))
    v2c, v3 = names[0], names[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5.0)
        lab.control.trap_target(("127.0.0.1", rx.getsockname()[1]))
        try:
            lab.control.if_down(v2c, 4)
            data, source = rx.recvfrom(65535)
            trap = ber.decode_message(data)
            assert source[0] == targets(lab)[v2c].host
            assert trap.trap_oid == (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
            _got, found = asyncio.run(poll(targets(lab)[v2c]))
            assert not found["interfaces"][4].oper_up and found["interfaces"][3].oper_up
            lab.control.if_up(v2c, 4)
            rx.recvfrom(65535)
            uptime_before = asyncio.run(poll(targets(lab)[v3]))[0][mib.SYS_UPTIME]
            lab.control.restart(v3)
            data, source = rx.recvfrom(65535)
            message = usm.decode_message(data)  # authPriv, from the device's own engine
            assert message.encrypted and message.engine_boots == 2
            assert source[0] == targets(lab)[v3].host
            assert asyncio.run(poll(targets(lab)[v3]))[0][mib.SYS_UPTIME] < uptime_before
        finally:
            lab.control.trap_target(None)

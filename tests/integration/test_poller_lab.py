"""The SNMP poller against real lab devices (snmpsim): counters of mixed widths, an agent
that serves its LLDP table out of order, and the supervision of crashing polls."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.poller import Poller, PollTarget
from agent.snmp import SnmpClient, SnmpTarget
from lab import recording
from lab.fleet import Lab
from shared import mib
from shared.config import PollingConfig
from shared.errors import SnmpProtocolError
from shared.model import Event, NetworkElement
from shared.nodal import NodalModel, PollResult
from tests.helpers.waiting import common_free_port, device_addresses, random_base

SWITCH = "sw001"  # ring of 3: rtr001, rtr002 (v3), sw001 (v2c), each with 2 LLDP neighbours
MGMT = recording.MGMT_IFINDEX


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = random_base()
    sdir = tmp_path_factory.mktemp("qlab")
    quirks = {SWITCH: [recording.LLDP_BY_PORT]}
    with Lab.create(
        sdir,
        3,
        "ring",
        base_address=base,
        port=common_free_port(device_addresses(base, 3)),
        quirks=quirks,
    ) as lb:
        yield lb


def _target(lab: Lab, name: str) -> PollTarget:
    dev = lab.device(name)
    ne = NetworkElement(name, dev.address, dev.port, profile=dev.profile, kind=dev.kind)
    return PollTarget(ne, lab.profile_for(name))


def _poller(
    client: SnmpClient, events: list[Event], interval: float = 60.0, cls: type[Poller] = Poller
) -> Poller:
    model = NodalModel("test")
    config = PollingConfig(interval=interval, timeout=1.0, retries=1, lldp_every=1)
    return cls(client, model, events.extend, config)


def _snmpwalk(lab: Lab, name: str, oid: str, *flags: str) -> subprocess.CompletedProcess[str]:
    # GETNEXT: net-snmp's snmpbulkwalk compares each answer with the request's OID only, so
    # it does not notice a step back inside one GETBULK answer; snmpwalk checks every step.
    dev = lab.device(name)
    community = lab.profile_for(name).community
    cmd = ["snmpwalk", "-v2c", "-c", community, "-On", "-t", "2", "-r", "1", *flags]
    cmd += [f"{dev.address}:{dev.port}", oid]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


# -- item 4: a table served out of order --------------------------------------------------------


@pytest.mark.timeout(60)
def test_lab_switch_serves_lldp_rem_table_out_of_order_to_net_snmp_too(lab: Lab) -> None:
    # The lab device, not our client, is what is checked here: net-snmp's own walker sees it.
    strict = _snmpwalk(lab, SWITCH, recording.LLDP_REM_ENTRY + ".9")
    assert "OID not increasing" in strict.stderr, strict
    tolerant = _snmpwalk(lab, SWITCH, recording.LLDP_REM_ENTRY + ".9", "-Cc")
    assert tolerant.returncode == 0, tolerant.stderr
    rows = [line.split(" = ")[0].lstrip(".") for line in tolerant.stdout.splitlines()]
    # Port 1's neighbour first although its timemark (8900) is above port 2's (8800).
    assert rows == [
        f"{recording.LLDP_REM_ENTRY}.9.8900.1.1",
        f"{recording.LLDP_REM_ENTRY}.9.8800.2.1",
    ]


@pytest.mark.timeout(60)
async def test_out_of_order_walk_keeps_every_row_and_says_so(lab: Lab, client: SnmpClient) -> None:
    t = _target(lab, SWITCH)
    target = SnmpTarget(t.ne.address, t.ne.port, t.profile, timeout=1.0)
    got = await client.walk_many(target, mib.LLDP_COLUMNS)
    assert [o[-3:] for o, _ in got[mib.LLDP_REM_SYS_NAME]] == [(8800, 2, 1), (8900, 1, 1)]
    assert got.out_of_order == {c: 1 for c in mib.LLDP_COLUMNS[1:]}
    with pytest.raises(SnmpProtocolError, match="not increasing"):
        await client.walk_many(target, mib.LLDP_COLUMNS, strict=True)


@pytest.mark.timeout(60)
async def test_ne_with_out_of_order_lldp_keeps_its_neighbours_and_shows_the_problem(
    lab: Lab, client: SnmpClient, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[Event] = []
    poller = _poller(client, events)
    t = _target(lab, SWITCH)
    poller.model.add_ne(SWITCH, t.ne)
    sched = poller._new_schedule(t)
    with caplog.at_level(logging.INFO, logger="agent.poller"):
        for _ in range(3):
            await poller.poll_once(sched)
    st = poller.model.states[SWITCH]
    assert st.reachable and st.polls == 3
    assert sorted(n.remote_name for n in st.neighbours) == ["rtr001", "rtr002"]
    problem = st.summary()["problems"]["lldp"]  # type: ignore[index]
    assert problem == "agent returned OIDs out of order in lldpRemTable (3 times)"
    assert poller.stats["out_of_order"] == 3
    warned = [r for r in caplog.records if "out of order" in r.getMessage()]
    assert len(warned) == 1 and getattr(warned[0], "ne", None) == SWITCH  # once, not per poll
    # A well-behaved NE has no such problem.
    other = _target(lab, "rtr001")
    poller.model.add_ne("rtr001", other.ne)
    await poller.poll_once(poller._new_schedule(other))
    assert poller.model.states["rtr001"].problems == {}
    assert len(poller.model.states["rtr001"].neighbours) == 2


# -- item 3: counters of mixed widths -------------------------------------------------------------


async def _uptime(client: SnmpClient, t: PollTarget) -> float:
    target = SnmpTarget(t.ne.address, t.ne.port, t.profile, timeout=1.0)
    got = await client.get(target, [mib.SYS_UPTIME])
    value = got[mib.SYS_UPTIME]
    assert isinstance(value, int)
    return value / 100


@pytest.mark.timeout(90)
async def test_management_port_without_hc_counters_gets_rates_across_its_counter32_wrap(
    lab: Lab, client: SnmpClient
) -> None:
    lab.restart(SWITCH)  # its management port's Counter32s wrap MGMT_WRAP_AFTER s after boot
    events: list[Event] = []
    poller = _poller(client, events)
    t = _target(lab, SWITCH)
    poller.model.add_ne(SWITCH, t.ne)
    sched = poller._new_schedule(t)
    await poller.poll_once(sched)
    st = poller.model.states[SWITCH]
    mgmt, uplink = st.interfaces[MGMT], st.interfaces[1]
    assert (mgmt.counter_bits, uplink.counter_bits) == (32, 64)
    assert mgmt.in_octets > 2**31 and mgmt.speed_bps == recording.MGMT_SPEED
    # From now on its two 32-bit counters ride in the GET every poll sends anyway.
    assert sched.counters == mib.CounterPlan("hc", (MGMT,))
    readings: list[tuple[int, float | None, float | None]] = []
    deadline = time.monotonic() + 40
    while await _uptime(client, t) < recording.MGMT_WRAP_AFTER + 5:
        assert time.monotonic() < deadline, "the device's uptime did not reach the wrap"
        await asyncio.sleep(1.5)
        await poller.poll_once(sched)
        i = poller.model.states[SWITCH].interfaces[MGMT]
        readings.append((i.in_octets, i.in_bps, i.out_bps))
    wrapped = [k for k in range(1, len(readings)) if readings[k][0] < readings[k - 1][0]]
    assert wrapped, f"no wrap seen in {readings}"
    want = recording.MGMT_RATE * 8
    for k in wrapped:
        _, rin, rout = readings[k]
        assert rin is not None and rout is not None
        assert 0.8 * want < rin < 1.2 * want  # the wrap is a 0.8 Mb/s rate, not 0 or 3 Gb/s
    # Every poll after the first had a rate on both widths.
    assert all(r[1] is not None for r in readings)
    assert poller.model.states[SWITCH].interfaces[1].in_bps


# -- item 13: a poll that crashes does not end the NE's polling ----------------------------------


class _CrashOnce(Poller):
    """Raises what a parser bug on odd data would raise, on the first poll only."""

    crashes = 1
    seen_at_second_poll: tuple[dict[str, str], str | None] | None = None

    async def _poll(self, sched, full, problems):  # type: ignore[no-untyped-def]
        st = self.model.states.get(sched.target.ne.name)
        if self.crashes:
            self.crashes -= 1
            raise ValueError("invalid literal for int() with base 10: b'\\xff'")
        if self.seen_at_second_poll is None and st is not None:
            self.seen_at_second_poll = (dict(st.problems), st.last_error)
        result: PollResult = await super()._poll(sched, full, problems)
        return result


@pytest.mark.timeout(60)
async def test_a_crashing_poll_is_logged_counted_shown_and_polling_goes_on(
    lab: Lab, client: SnmpClient, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[Event] = []
    poller = _poller(client, events, interval=0.5, cls=_CrashOnce)
    assert isinstance(poller, _CrashOnce)
    t = _target(lab, "rtr001")
    poller.model.add_ne("rtr001", t.ne)
    with caplog.at_level(logging.ERROR, logger="agent.schedule"):
        poller.set_targets({"rtr001": t})
        deadline = time.monotonic() + 30
        while poller.model.states["rtr001"].polls < 2:
            assert time.monotonic() < deadline, "polling stopped after the crash"
            await asyncio.sleep(0.1)
    assert poller.stats["poll_crashes"] == 1
    assert poller.seen_at_second_poll is not None
    problems, last_error = poller.seen_at_second_poll
    assert "internal error while polling (1 times)" in problems["poll"]
    assert last_error is not None and "ValueError" in last_error
    st = poller.model.states["rtr001"]
    assert "poll" not in st.problems and st.last_error is None  # the next poll was fine
    crash_logs = [r for r in caplog.records if "poll crashed" in r.getMessage()]
    assert len(crash_logs) == 1 and crash_logs[0].exc_info is not None  # with the traceback
    assert getattr(crash_logs[0], "ne", None) == "rtr001"
    task = poller._nes["rtr001"].task
    assert task is not None and not task.done()
    await poller.close()
    assert task.done() and not poller._ending  # cancelled and awaited, nothing left behind


@pytest.mark.timeout(60)
async def test_repeated_crashes_are_rate_limited_in_the_log_but_all_counted(
    lab: Lab, client: SnmpClient, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[Event] = []
    poller = _poller(client, events, interval=0.2, cls=_CrashOnce)
    assert isinstance(poller, _CrashOnce)
    poller.crashes = 10**6
    t = _target(lab, "rtr001")
    poller.model.add_ne("rtr001", t.ne)
    with caplog.at_level(logging.ERROR, logger="agent.schedule"):
        poller.set_targets({"rtr001": t})
        deadline = time.monotonic() + 30
        while poller.stats["poll_crashes"] < 5:
            assert time.monotonic() < deadline, "polling stopped after a crash"
            await asyncio.sleep(0.1)
        # A removed NE's task is cancelled and kept until it has ended.
        poller.set_targets({})
        assert poller._ending
        await poller.close()
    assert not poller._ending
    assert len([r for r in caplog.records if "poll crashed" in r.getMessage()]) == 1
    crashes = poller.stats["poll_crashes"]
    assert f"({crashes} times)" in poller.model.states["rtr001"].problems["poll"]


@pytest.mark.timeout(30)
def test_recording_quirks_are_checked(tmp_path: Path) -> None:
    from shared.errors import LabError

    with pytest.raises(LabError, match="unknown"):
        Lab.create(tmp_path / "a", 3, "ring", quirks={SWITCH: ["lldp-sideways"]})
    with pytest.raises(LabError, match="no such device"):
        Lab.create(tmp_path / "b", 3, "ring", quirks={"sw999": [recording.LLDP_BY_PORT]})


@pytest.mark.timeout(60)
async def test_v1_and_mixed_plans_read_the_right_counter_of_each_interface(
    lab: Lab, client: SnmpClient
) -> None:
    import dataclasses

    from shared.model import SnmpVersion

    events: list[Event] = []
    poller = _poller(client, events)
    t = _target(lab, SWITCH)
    poller.model.add_ne(SWITCH, t.ne)
    # Walking both columns for every interface (what a device with many slow ports gets).
    sched = poller._new_schedule(t)
    sched.counters = mib.CounterPlan("mixed")
    await poller.poll_once(sched)
    ifs = poller.model.states[SWITCH].interfaces
    assert (ifs[MGMT].counter_bits, ifs[1].counter_bits) == (32, 64)
    assert ifs[MGMT].in_octets > 0 and ifs[1].in_octets > 0
    assert sched.counters == mib.CounterPlan("hc", (MGMT,))  # back to the cheaper plan
    # SNMPv1 (no Counter64): every interface on 32-bit counters, the LLDP table read by
    # GETNEXT out of order all the same.
    v1 = dataclasses.replace(t.profile, version=SnmpVersion.V1)
    poller.model.add_ne("v1", t.ne)
    v1_sched = poller._new_schedule(PollTarget(dataclasses.replace(t.ne, name="v1"), v1))
    await poller.poll_once(v1_sched)
    st = poller.model.states["v1"]
    assert st.reachable and {i.counter_bits for i in st.interfaces.values()} == {32}
    assert len(st.neighbours) == 2 and "lldpRemTable" in st.problems["lldp"]

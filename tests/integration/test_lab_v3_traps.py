"""The lab's v3 traps keep their device's engine clock, and our receiver takes them: a real
device's boots and time only go forward, and since RFC 3414 3.2.7 is enforced a lab that
sent every trap with boots 1 / time 0 (a fresh engine each) would be refused after 150 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from agent.traps import Notification, TrapReceiver, TrapSource
from lab.fleet import Lab
from lab.state import V3_PROFILE
from shared import usm
from tests.helpers.waiting import common_free_port, device_addresses, random_base

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = random_base()
    port = common_free_port(device_addresses(base, 2))
    with Lab.create(tmp_path_factory.mktemp("lab-v3"), 2, "ring", base, port, 1.0) as lab:
        yield lab


async def test_lab_v3_traps_carry_the_device_clock_and_are_accepted(lab: Lab) -> None:
    got: list[Notification] = []
    raw: list[usm.V3Message] = []
    rx = TrapReceiver(got.append, "127.0.0.1", 0)
    original = rx._datagram_received

    def tap(data: bytes, address: tuple[str, int]) -> None:  # what arrived, as sent
        raw.append(usm.decode_message(data))
        original(data, address)

    rx._datagram_received = tap  # type: ignore[method-assign]
    dev = next(d for d in lab.devices if d.profile == V3_PROFILE)
    profile = lab.profiles()[V3_PROFILE]
    rx.set_sources({dev.address: TrapSource(dev.name, profile, bytes.fromhex(dev.engine_id))})
    async with rx:
        for kind in ("linkDown", "linkUp"):
            await lab.send_trap_async(dev.name, kind, rx.address, ifindex=2)
        deadline = time.monotonic() + 10
        while len(got) < 2:
            assert time.monotonic() < deadline, rx.counters
            await asyncio.sleep(0.05)
    assert [n.ne for n in got] == [dev.name, dev.name]
    started = lab.device(dev.name).started_at
    assert started is not None
    for msg in raw:
        assert msg.engine_id == bytes.fromhex(dev.engine_id)
        assert msg.engine_boots == int(started) - 1_577_836_800  # grows with each restart
        assert abs(msg.engine_time - (time.time() - started)) < 5

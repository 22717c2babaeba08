"""Out-of-range values on the wire, end to end: the poller's transport and the trap receiver
refuse them as malformed, count them, never hand on a silently huge number, and log the type,
not the value. The quirks real agents send (the 0x00 left out of an unsigned value) still
decode to what the agent meant.

The agent side here is a raw UDP responder that writes its value octets by hand, as a buggy
device would, so nothing in these tests comes out of our own encoder's idea of a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from agent.snmp import SnmpClient, SnmpTarget
from agent.traps import Notification, TrapReceiver
from shared import ber
from shared.errors import SnmpTimeout
from shared.model import CredentialProfile
from tests.helpers.mutate import parse

pytestmark = pytest.mark.timeout(30)

NAME = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 1)  # ifInOctets.1, a Counter32
PROFILE = CredentialProfile(name="counted", community="counted")


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + ber._len(len(body)) + body


def _answer(request: bytes, value_tlv: bytes) -> bytes:
    """A Response to ``request`` carrying ``value_tlv`` (raw octets) for its first OID. The
    request is read with the test's own TLV walker, not with the decoder under test."""
    _version, community, pdu = parse(request).children or []
    request_id, _, _, varbinds = pdu.children or []
    name = (varbinds.children or [])[0].children[0]  # type: ignore[index]
    vb = _tlv(0x30, _tlv(0x06, name.content) + value_tlv)
    body = _tlv(0x02, request_id.content) + b"\x02\x01\x00\x02\x01\x00" + _tlv(0x30, vb)
    return _tlv(0x30, b"\x02\x01\x01" + _tlv(0x04, community.content) + _tlv(0xA2, body))


class _Device(asyncio.DatagramProtocol):
    def __init__(self, value_tlv: bytes) -> None:
        self.value_tlv = value_tlv
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(_answer(data, self.value_tlv), addr)


@contextlib.asynccontextmanager
async def _device(value_tlv: bytes) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Device(value_tlv), local_addr=("127.0.0.1", 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


@pytest.mark.parametrize(
    "value_tlv",
    [
        b"\x41\x05\x01\x00\x00\x00\x00",  # Counter32 2^32
        b"\x46\x09\x01" + b"\x00" * 8,  # Counter64 2^64
        b"\x02\x05\x00\x80\x00\x00\x00",  # Integer32 2^31
        b"\x43\x05\x80\x00\x00\x00\x00",  # TimeTicks, top bit of 5 octets
        b"\x40\x05\x0a\x00\x00\x01\x01",  # IpAddress of 5 octets
    ],
    ids=["counter32", "counter64", "integer32", "timeticks", "ipaddress"],
)
async def test_out_of_range_answer_is_counted_malformed_not_returned(value_tlv: bytes) -> None:
    client = SnmpClient()
    try:
        async with _device(value_tlv) as port:
            target = SnmpTarget("127.0.0.1", port, PROFILE, timeout=0.3, retries=1)
            with pytest.raises(SnmpTimeout):
                await client.get(target, [NAME])
        stats = client.transport_stats
        assert stats["received"] == 2 and stats["malformed"] == 2  # both attempts answered
    finally:
        client.close()


@pytest.mark.parametrize(
    ("value_tlv", "expected"),
    [
        (b"\x41\x02\x80\xe8", 33000),  # 0x00 left out: what the agent meant
        (b"\x41\x04\xff\xff\xff\xff", 2**32 - 1),
        (b"\x41\x05\x00\xff\xff\xff\xff", 2**32 - 1),  # the correct form
        (b"\x41\x05\x00\x00\x00\x00\x05", 5),  # redundant leading zeros
        (b"\x46\x08" + b"\xff" * 8, 2**64 - 1),
    ],
)
async def test_device_quirks_read_as_meant(value_tlv: bytes, expected: int) -> None:
    client = SnmpClient()
    try:
        async with _device(value_tlv) as port:
            target = SnmpTarget("127.0.0.1", port, PROFILE, timeout=1.0, retries=0)
            assert await client.get(target, [NAME]) == {NAME: expected}
        assert client.transport_stats["malformed"] == 0
    finally:
        client.close()


def _trap(value_tlv: bytes) -> bytes:
    trap_oid = _tlv(
        0x30, ber._enc_oid(ber.SNMP_TRAP_OID_0) + ber._enc_oid((1, 3, 6, 1, 6, 3, 1, 1, 5, 3))
    )
    vbl = _tlv(0x30, ber._enc_oid(ber.SYS_UPTIME_0) + b"\x43\x01\x05") + trap_oid
    vbl += _tlv(0x30, ber._enc_oid(NAME) + value_tlv)
    pdu = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + _tlv(0x30, vbl)
    return _tlv(0x30, b"\x02\x01\x01" + _tlv(0x04, b"counted") + _tlv(0xA7, pdu))


async def test_trap_with_out_of_range_value_is_counted_and_logged_without_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[Notification] = []
    rx = TrapReceiver(got.append, "127.0.0.1", 0)
    rx.set_sources({"127.0.0.1": ("ne-counted", PROFILE)})
    await rx.start()
    try:
        loop = asyncio.get_running_loop()
        sender, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        with caplog.at_level(logging.WARNING, logger="agent.traps"):
            sender.sendto(_trap(b"\x41\x05\x01\x00\x00\x00\x07"), rx.address)  # 2^32 + 7
            sender.sendto(_trap(b"\x41\x04\xff\xff\xff\xf9"), rx.address)  # quirk: 2^32 - 7
            deadline = loop.time() + 5
            while len(got) < 1 and loop.time() < deadline:
                await asyncio.sleep(0.01)
        sender.close()
    finally:
        await rx.close()
    assert rx.counters["malformed"] == 1 and rx.counters["accepted"] == 1
    assert got[0].varbinds[-1] == (NAME, 2**32 - 7)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "Counter32 value above its range" in logged
    assert str(2**32 + 7) not in logged

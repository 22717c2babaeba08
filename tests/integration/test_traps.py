"""The trap receiver on a real UDP socket, fed by net-snmp's snmptrap/snmpinform and raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.traps import Notification, TrapReceiver, TrapSource
from agent.trapv3 import local_engine
from shared.ber import SNMP_TRAP_OID_0, encode_notification
from shared.model import CredentialProfile, SnmpVersion
from tests.helpers.waiting import eventually

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("snmptrap") is None, reason="net-snmp snmptrap missing"),
]

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_DOWN_OID = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
NE_ENGINE_ID = "8000000001020304aa"

V2 = CredentialProfile("v2", SnmpVersion.V2C, community="trap-community")
V3 = CredentialProfile(
    "v3",
    SnmpVersion.V3,
    user="ne-user",
    auth_protocol="sha256",
    auth_key="auth-passphrase-1",
    priv_protocol="aes",
    priv_key="priv-passphrase-1",
)
V3_ARGS = ["-v3", "-u", "ne-user", "-l", "authPriv", "-a", "SHA-256", "-x", "AES"]
V3_ARGS += ["-A", "auth-passphrase-1", "-X", "priv-passphrase-1"]


class Sink:
    def __init__(self) -> None:
        self.items: list[Notification] = []

    def __call__(self, notification: Notification) -> None:
        self.items.append(notification)


@pytest.fixture
async def sink() -> Sink:
    return Sink()


@pytest.fixture
async def receiver(sink: Sink) -> AsyncIterator[TrapReceiver]:
    rx = TrapReceiver(sink, "127.0.0.1", 0)
    rx.set_sources(
        {
            "127.0.0.1": ("ne-a", V2),
            "127.0.0.2": TrapSource("ne-b", V3, engine_id=bytes.fromhex(NE_ENGINE_ID)),
            "127.0.0.3": ("ne-c", V3),  # engine ID learned from the first good trap
        }
    )
    await rx.start()
    try:
        yield rx
    finally:
        await rx.close()


async def run_tool(*args: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
    """Run a net-snmp sender without blocking the loop the receiver runs in."""
    return await asyncio.to_thread(
        subprocess.run, list(args), capture_output=True, text=True, timeout=timeout
    )


def target(rx: TrapReceiver) -> str:
    return f"udp:127.0.0.1:{rx.address[1]}"


def send_raw(rx: TrapReceiver, data: bytes, source_ip: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source_ip, 0))
        s.sendto(data, rx.address)


def trap(community: str = "trap-community") -> bytes:
    return encode_notification(
        community.encode(), LINK_DOWN_OID, [((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 4), 4)]
    )


async def test_v2c_link_down_accepted_and_decoded(receiver: TrapReceiver, sink: Sink) -> None:
    r = await run_tool(
        "snmptrap", "-v2c", "-c", "trap-community", target(receiver), "4242", LINK_DOWN,
        f"{IF_INDEX}.7", "i", "7", f"{IF_DESCR}.7", "s", "ge-0/0/7",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    await eventually(lambda: len(sink.items) == 1)
    n = sink.items[0]
    assert n.ne == "ne-a"
    assert n.version == "2c"
    assert n.source[0] == "127.0.0.1"
    assert n.trap_oid == LINK_DOWN_OID
    assert n.uptime == 4242
    assert dict(n.varbinds)[(1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7)] == 7
    assert dict(n.varbinds)[(1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 7)] == b"ge-0/0/7"
    assert receiver.counters["accepted"] == 1


async def test_v2c_inform_answered(receiver: TrapReceiver, sink: Sink) -> None:
    r = await run_tool(
        "snmpinform", "-r", "0", "-t", "5", "-v2c", "-c", "trap-community", target(receiver),
        "1", LINK_DOWN, f"{IF_INDEX}.3", "i", "3",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr  # snmpinform fails unless it got our Response
    assert receiver.counters["informs_answered"] == 1
    assert sink.items[0].trap_oid == LINK_DOWN_OID


async def test_v1_trap_converted(receiver: TrapReceiver, sink: Sink) -> None:
    r = await run_tool(
        "snmptrap", "-v1", "-c", "trap-community", target(receiver), "1.3.6.1.4.1.8072",
        "127.0.0.1", "6", "17", "555", f"{IF_INDEX}.2", "i", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    await eventually(lambda: len(sink.items) == 1)
    n = sink.items[0]
    assert n.version == "1"
    assert n.trap_oid == (1, 3, 6, 1, 4, 1, 8072, 0, 17)
    assert n.uptime == 555
    assert n.varbinds[1] == (SNMP_TRAP_OID_0, (1, 3, 6, 1, 4, 1, 8072, 0, 17))
    assert ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2), 2) in n.varbinds


async def test_v3_auth_priv_trap_with_pinned_engine_id(receiver: TrapReceiver, sink: Sink) -> None:
    r = await run_tool(
        "snmptrap", *V3_ARGS, "-e", f"0x{NE_ENGINE_ID}", "--clientaddr=127.0.0.2",
        target(receiver), "77", LINK_DOWN, f"{IF_INDEX}.5", "i", "5",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    await eventually(lambda: len(sink.items) == 1)
    n = sink.items[0]
    assert (n.ne, n.version, n.trap_oid, n.uptime) == ("ne-b", "3", LINK_DOWN_OID, 77)
    assert dict(n.varbinds)[(1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 5)] == 5
    assert receiver.counters["bad_v3"] == 0


async def test_v3_engine_id_learned_only_from_authentic_trap(
    receiver: TrapReceiver, sink: Sink
) -> None:
    base = ["snmptrap", *V3_ARGS[:-4], "--clientaddr=127.0.0.3", "-e", "0x80000000010a0b0c0d"]
    spoofed = [*base, "-A", "wrong-passphrase", "-X", "wrong-passphrase"]
    good = [*base, "-A", "auth-passphrase-1", "-X", "priv-passphrase-1"]
    r = await run_tool(*spoofed, target(receiver), "1", LINK_DOWN)
    assert r.returncode == 0, r.stderr
    await eventually(lambda: receiver.counters["bad_v3"] == 1)
    await asyncio.sleep(1.1)  # learning attempts per source are rate-limited
    r = await run_tool(*good, target(receiver), "2", LINK_DOWN)
    assert r.returncode == 0, r.stderr
    await eventually(lambda: len(sink.items) == 1)
    assert sink.items[0].ne == "ne-c"
    # Once learned, another engine ID from that address is refused without crypto.
    other = [*good[:-6], "-e", "0x80000000019999999999", *good[-4:]]
    r = await run_tool(*other, target(receiver), "3", LINK_DOWN)
    await eventually(lambda: receiver.counters["bad_v3"] == 2)
    assert len(sink.items) == 1


async def test_v3_inform_answered(receiver: TrapReceiver, sink: Sink) -> None:
    r = await run_tool(
        "snmpinform", "-r", "1", "-t", "5", *V3_ARGS, "--clientaddr=127.0.0.2",
        target(receiver), "9", LINK_DOWN, f"{IF_INDEX}.9", "i", "9",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert sink.items[-1].ne == "ne-b"
    assert receiver.counters["informs_answered"] == 1
    assert receiver.counters["bad_v3"] == 0


async def test_wrong_community_dropped_and_counted(
    receiver: TrapReceiver, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        send_raw(receiver, trap("guessed-secret"))
    await eventually(lambda: receiver.counters["bad_community"] == 3)
    assert sink.items == []
    assert "guessed-secret" not in caplog.text
    assert "trap-community" not in caplog.text
    # rate-limited: one warning for the three drops from that source
    assert caplog.text.count("dropped notification") == 1


async def test_wrong_v3_key_dropped_and_counted(
    receiver: TrapReceiver, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    args = [a if a != "priv-passphrase-1" else "wrong-priv-key" for a in V3_ARGS]
    r = await run_tool(
        "snmptrap", *args, "-e", f"0x{NE_ENGINE_ID}", "--clientaddr=127.0.0.2",
        target(receiver), "1", LINK_DOWN,
    )  # fmt: skip
    assert r.returncode == 0
    args = [a if a != "ne-user" else "other-user" for a in V3_ARGS]
    r = await run_tool(
        "snmptrap", *args, "-e", f"0x{NE_ENGINE_ID}", "--clientaddr=127.0.0.2",
        target(receiver), "1", LINK_DOWN,
    )  # fmt: skip
    await eventually(lambda: receiver.counters["bad_v3"] == 2)
    await asyncio.sleep(0.1)
    assert sink.items == []
    assert "wrong-priv-key" not in caplog.text and "priv-passphrase-1" not in caplog.text


async def test_unknown_source_dropped(receiver: TrapReceiver, sink: Sink) -> None:
    send_raw(receiver, trap(), source_ip="127.0.0.77")
    await eventually(lambda: receiver.counters["unknown_source"] == 1)
    send_raw(receiver, trap())
    await eventually(lambda: len(sink.items) == 1)
    assert [n.ne for n in sink.items] == ["ne-a"]


async def test_garbage_then_valid_trap_still_accepted(receiver: TrapReceiver, sink: Sink) -> None:
    good = trap()
    junk = [
        b"",
        b"\x00",
        b"GET / HTTP/1.1\r\n\r\n",
        good[:-3],
        good[:10] + b"\xff" * 20,
        b"\x30\x80" + good[2:],  # indefinite length
        b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01",  # length beyond the datagram
        b"\x30\x05\x02\x01\x03\x30\x00",  # v3, header cut short
    ]
    for data in junk:
        send_raw(receiver, data)
    send_raw(receiver, good + b"\x00" * (16 * 1024))  # oversized
    send_raw(receiver, good)
    await eventually(lambda: len(sink.items) == 1)
    assert receiver.counters["malformed"] == len(junk)
    assert receiver.counters["oversized"] == 1
    assert receiver.counters["received"] == len(junk) + 2
    assert receiver.counters["accepted"] == 1


async def test_non_utf8_octet_string_delivered_as_bytes(receiver: TrapReceiver, sink: Sink) -> None:
    r = await run_tool(
        "snmptrap", "-v2c", "-c", "trap-community", target(receiver), "1", LINK_DOWN,
        f"{IF_DESCR}.1", "x", "FF FE 80 00 C3 28",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    await eventually(lambda: len(sink.items) == 1)
    assert dict(sink.items[0].varbinds)[(1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 1)] == (
        b"\xff\xfe\x80\x00\xc3\x28"
    )


async def test_set_sources_replacement_takes_effect(receiver: TrapReceiver, sink: Sink) -> None:
    receiver.set_sources({"127.0.0.5": ("ne-e", V2)})
    send_raw(receiver, trap())  # from 127.0.0.1, no longer managed
    send_raw(receiver, trap(), source_ip="127.0.0.5")
    await eventually(lambda: len(sink.items) == 1)
    assert sink.items[0].ne == "ne-e"
    assert receiver.counters["unknown_source"] == 1
    # v3 users of removed NEs are gone from the USM too
    r = await run_tool(
        "snmptrap", *V3_ARGS, "-e", f"0x{NE_ENGINE_ID}", "--clientaddr=127.0.0.2",
        target(receiver), "1", LINK_DOWN,
    )  # fmt: skip
    await eventually(lambda: receiver.counters["unknown_source"] == 2)
    receiver.set_sources({"127.0.0.2": TrapSource("ne-b2", V3, bytes.fromhex(NE_ENGINE_ID))})
    r = await run_tool(
        "snmptrap", *V3_ARGS, "-e", f"0x{NE_ENGINE_ID}", "--clientaddr=127.0.0.2",
        target(receiver), "1", LINK_DOWN,
    )  # fmt: skip
    assert r.returncode == 0
    await eventually(lambda: len(sink.items) == 2)
    assert sink.items[1].ne == "ne-b2"


async def test_callback_error_does_not_stop_receiver() -> None:
    calls: list[Notification] = []

    def flaky(n: Notification) -> None:
        calls.append(n)
        if len(calls) == 1:
            raise RuntimeError("boom")

    async with TrapReceiver(flaky, "127.0.0.1", 0) as rx:
        rx.set_sources({"127.0.0.1": ("ne-a", V2)})
        send_raw(rx, trap())
        send_raw(rx, trap())
        await eventually(lambda: len(calls) == 2)
        assert rx.counters["callback_errors"] == 1


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_close_and_cancel_release_the_socket() -> None:
    rx = TrapReceiver(Sink(), "127.0.0.1", 0)
    await rx.start()
    port = rx.address[1]
    assert not _port_free(port)
    await rx.close()
    assert _port_free(port)
    await rx.close()  # idempotent

    rx2 = TrapReceiver(Sink(), "127.0.0.1", 0)
    task = asyncio.create_task(rx2.serve())
    await eventually(lambda: rx2._address is not None)
    port = rx2.address[1]
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert _port_free(port)


async def test_cancelled_start_leaks_no_socket() -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    for spins in range(4):  # cancel at successive points inside start()
        rx = TrapReceiver(Sink(), "127.0.0.1", 0)
        task = asyncio.create_task(rx.start())
        for _ in range(spins):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await rx.close()
        await asyncio.sleep(0.01)
    assert open_fds() <= before


# -- the native v3 path: timeliness, our engine, attribution, caches (issue 11 items 5, 9, 15)

OTHER_ENGINE = "80001f8804aabbccdd"


async def v3_trap(rx: TrapReceiver, source: str, *extra: str, args: list[str] = V3_ARGS) -> None:
    r = await run_tool("snmptrap", *args, *extra, f"--clientaddr={source}", target(rx), "5",
                       LINK_DOWN, f"{IF_INDEX}.5", "i", "5")  # fmt: skip
    assert r.returncode == 0, r.stderr


async def test_v3_replays_outside_the_time_window_are_refused(
    receiver: TrapReceiver, sink: Sink
) -> None:
    """RFC 3414 3.2.7 b: the sender's boots/time are learnt and followed; a trap more than
    150 s behind them, or from an earlier boot, is a replay (net-snmp's -Z sets them)."""
    sent = [("5,1000", True), ("5,900", True), ("5,849", False), ("4,5000", False)]
    sent += [("6,3", True), ("5,99999", False)]
    for boots_time, _ok in sent:
        await v3_trap(receiver, "127.0.0.2", "-e", f"0x{NE_ENGINE_ID}", "-Z", boots_time)
    await eventually(lambda: receiver.counters["received"] == len(sent))
    await asyncio.sleep(0.1)
    assert len(sink.items) == sum(ok for _, ok in sent)
    assert receiver.counters["not_in_time_window"] == sum(not ok for _, ok in sent)


async def test_v3_inform_discovers_our_engine_and_is_resynchronised(
    receiver: TrapReceiver, sink: Sink
) -> None:
    """Informs are authoritative on OUR engine: snmpinform's probe gets an unknownEngineID
    Report with our ID, and an inform outside our time window an authenticated
    notInTimeWindow Report, after which net-snmp resends and gets our Response."""
    r = await run_tool("snmpinform", "-r", "1", "-t", "3", *V3_ARGS, "--clientaddr=127.0.0.2",
                       target(receiver), "9", LINK_DOWN)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert receiver.usm.usm_stats["unknownEngineID"] == 1
    r = await run_tool("snmpinform", "-r", "1", "-t", "3", *V3_ARGS, "--clientaddr=127.0.0.2",
                       "-e", f"0x{receiver.engine_id.hex()}", "-Z", "7,123456",
                       target(receiver), "10", LINK_DOWN)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert receiver.usm.usm_stats["notInTimeWindow"] == 1
    assert receiver.counters["informs_answered"] == 2
    assert [n.uptime for n in sink.items] == [9, 10]


async def test_v3_pinned_engine_id_enforced_and_learnt_one_kept(sink: Sink) -> None:
    learnt: list[tuple[str, bytes]] = []
    rx = TrapReceiver(sink, "127.0.0.1", 0, on_engine_learned=lambda n, e: learnt.append((n, e)))
    rx.set_sources(
        {
            "127.0.0.2": TrapSource("pinned", V3, engine_id=bytes.fromhex(NE_ENGINE_ID)),
            "127.0.0.3": TrapSource("known", V3, learned=bytes.fromhex(OTHER_ENGINE)),
        }
    )
    async with rx:
        await v3_trap(rx, "127.0.0.2", "-e", f"0x{OTHER_ENGINE}")  # not the pinned one
        await v3_trap(rx, "127.0.0.3", "-e", f"0x{NE_ENGINE_ID}")  # not the learnt one
        await eventually(lambda: rx.counters["bad_v3"] == 2)
        await v3_trap(rx, "127.0.0.2", "-e", f"0x{NE_ENGINE_ID}")
        await v3_trap(rx, "127.0.0.3", "-e", f"0x{OTHER_ENGINE}")
        await eventually(lambda: len(sink.items) == 2)
    assert [n.ne for n in sink.items] == ["pinned", "known"]
    # The pinned NE's engine is reported once (its clock is now learnt); the known one is not.
    assert learnt == [("pinned", bytes.fromhex(NE_ENGINE_ID))]


V3_OTHER_KEYS = CredentialProfile(
    "v3-other",
    SnmpVersion.V3,
    user="ne-user",
    auth_protocol="sha256",
    auth_key="auth-passphrase-2",
    priv_protocol="aes",
    priv_key="priv-passphrase-2",
)
V3_OTHER_ARGS = [{"auth-passphrase-1": "auth-passphrase-2"}.get(a, a) for a in V3_ARGS]
V3_OTHER_ARGS = [{"priv-passphrase-1": "priv-passphrase-2"}.get(a, a) for a in V3_OTHER_ARGS]


async def test_two_v3_senders_on_one_address_are_told_apart(sink: Sink) -> None:
    """Same address, same v3 user: by pinned engine ID (traps), by contextEngineID (informs,
    which all name our engine), by keys where they differ; what nothing separates is
    counted, never given to the wrong NE."""
    a, b = bytes.fromhex(NE_ENGINE_ID), bytes.fromhex(OTHER_ENGINE)
    rx = TrapReceiver(sink, "127.0.0.1", 0)
    rx.set_sources(
        {
            "127.0.0.2": [TrapSource("agent-a", V3, engine_id=a), TrapSource("agent-b", V3, b)],
            "127.0.0.3": [TrapSource("keys-1", V3), TrapSource("keys-2", V3_OTHER_KEYS)],
            "127.0.0.4": [("twin-1", V3), ("twin-2", V3)],
        }
    )
    assert [(addr, x, y) for addr, x, y, _ in rx.ambiguous] == [
        ("127.0.0.3", "keys-1", "keys-2"),  # told apart only because their keys differ
        ("127.0.0.4", "twin-1", "twin-2"),
    ]
    async with rx:
        await v3_trap(rx, "127.0.0.2", "-e", f"0x{OTHER_ENGINE}")
        await v3_trap(rx, "127.0.0.2", "-e", f"0x{NE_ENGINE_ID}")
        for ctx in (NE_ENGINE_ID, OTHER_ENGINE):
            r = await run_tool("snmpinform", "-r", "1", "-t", "3", *V3_ARGS, "-E", f"0x{ctx}",
                               "--clientaddr=127.0.0.2", target(rx), "1", LINK_DOWN)  # fmt: skip
            assert r.returncode == 0, r.stderr
        await v3_trap(rx, "127.0.0.3", "-e", f"0x{OTHER_ENGINE}", args=V3_OTHER_ARGS)
        await v3_trap(rx, "127.0.0.3", "-e", f"0x{NE_ENGINE_ID}")
        await v3_trap(rx, "127.0.0.4", "-e", f"0x{NE_ENGINE_ID}")
        await eventually(lambda: rx.counters["ambiguous_source"] == 1)
        await eventually(lambda: len(sink.items) == 6)
    assert [n.ne for n in sink.items] == ["agent-b", "agent-a", "agent-a", "agent-b",
                                          "keys-2", "keys-1"]  # fmt: skip
    assert rx.usm.learned == {"agent-a": a, "agent-b": b, "keys-1": a, "keys-2": b}


async def test_two_v2c_senders_on_one_address(sink: Sink) -> None:
    other = CredentialProfile("v2b", SnmpVersion.V2C, community="other-community")
    rx = TrapReceiver(sink, "127.0.0.1", 0)
    rx.set_sources({"127.0.0.2": [("port-161", V2), ("port-1161", other), ("twin", V2)]})
    assert [(x, y) for _, x, y, _ in rx.ambiguous] == [("port-161", "twin")]
    async with rx:
        for community in ("other-community", "trap-community"):
            r = await run_tool("snmptrap", "-v2c", "-c", community, "--clientaddr=127.0.0.2",
                               target(rx), "1", LINK_DOWN)  # fmt: skip
            assert r.returncode == 0, r.stderr
        await eventually(lambda: rx.counters["received"] == 2)
        await asyncio.sleep(0.05)
    assert [n.ne for n in sink.items] == ["port-1161"]
    assert rx.counters["ambiguous_source"] == 1


async def test_changed_or_removed_profile_leaves_no_key_behind(sink: Sink) -> None:
    """Item 15 on the trap side: a changed key stops working at once, a removed source
    leaves nothing derived from its secrets in the receiver's USM."""
    rx = TrapReceiver(sink, "127.0.0.1", 0)
    rx.set_sources({"127.0.0.2": TrapSource("ne", V3, engine_id=bytes.fromhex(NE_ENGINE_ID))})
    async with rx:
        await v3_trap(rx, "127.0.0.2", "-e", f"0x{NE_ENGINE_ID}")
        await eventually(lambda: len(sink.items) == 1)
        assert rx.usm.keys.holds(b"auth-passphrase-1")
        changed = TrapSource("ne", V3_OTHER_KEYS, engine_id=bytes.fromhex(NE_ENGINE_ID))
        rx.set_sources({"127.0.0.2": changed})
        assert not rx.usm.keys.holds(b"auth-passphrase-1")
        assert not rx.usm.keys.holds(b"priv-passphrase-1")
        await v3_trap(rx, "127.0.0.2", "-e", f"0x{NE_ENGINE_ID}")  # the old key
        await eventually(lambda: rx.counters["bad_v3"] == 1)
        await v3_trap(rx, "127.0.0.2", "-e", f"0x{NE_ENGINE_ID}", args=V3_OTHER_ARGS)
        await eventually(lambda: len(sink.items) == 2)
        rx.set_sources({})
        assert len(rx.usm.keys) == 0 and rx.usm.learned == {}


def test_trap_path_needs_no_pysnmp() -> None:
    code = (
        "import sys, agent.traps, agent.trapv3\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pysnmp', 'pyasn1'))\n"
        "assert not loaded, loaded\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_our_engine_id_and_boots_are_kept_in_the_data_dir(tmp_path: Path) -> None:
    first = local_engine(str(tmp_path))
    second = local_engine(str(tmp_path))
    assert second.engine_id == first.engine_id and second.boots == first.boots + 1
    assert 5 <= len(first.engine_id) <= 32 and first.engine_id[0] & 0x80
    (tmp_path / "snmp-engine.json").write_text("{broken")
    fresh = local_engine(str(tmp_path))
    assert fresh.engine_id != first.engine_id and fresh.boots == 1
    # No data directory: boots still never go back (derived from the clock).
    a, b = local_engine(None), local_engine(None)
    assert b.boots >= a.boots > 100_000_000


async def test_same_auth_key_other_privacy_key_on_one_address(sink: Sink) -> None:
    """Both digests check; only one NE's privacy key opens the trap: that NE gets it."""
    other_priv = CredentialProfile(**{**{f: getattr(V3, f) for f in V3.__dataclass_fields__},
                                      "name": "v3-p2", "priv_key": "priv-passphrase-2"})  # fmt: skip
    args = [{"priv-passphrase-1": "priv-passphrase-2"}.get(a, a) for a in V3_ARGS]
    rx = TrapReceiver(sink, "127.0.0.1", 0)
    rx.set_sources({"127.0.0.2": [("first", V3), ("second", other_priv)]})
    async with rx:
        await v3_trap(rx, "127.0.0.2", "-e", f"0x{OTHER_ENGINE}", args=args)
        await eventually(lambda: len(sink.items) == 1)
    assert sink.items[0].ne == "second" and rx.counters["bad_v3"] == 0

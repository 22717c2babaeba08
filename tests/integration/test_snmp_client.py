"""SnmpClient against real responders: snmpsim (v2c + v3 authPriv), a silent port, a delaying
UDP proxy and a UDP server that answers garbage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.snmp import SnmpClient, SnmpTarget
from shared.errors import (
    ConfigError,
    SnmpError,
    SnmpProtocolError,
    SnmpTimeout,
)
from shared.model import CredentialProfile, SnmpVersion
from tests.helpers.netsnmp import V3User, free_udp_port, running_snmpd, stop
from tests.helpers.snmpsim import running_snmpsim, start_snmpsim, write_snmprec
from tests.helpers.udprelay import UdpRelay, udp_server

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_LOCATION = (1, 3, 6, 1, 2, 1, 1, 6, 0)  # holds non-UTF-8 bytes
SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_DESCR = (*IF_ENTRY, 2)
IF_SPEED = (*IF_ENTRY, 5)
IF_OPER = (*IF_ENTRY, 8)
IF_IN_OCTETS = (*IF_ENTRY, 10)
IF_ALIAS = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18)  # only 2 of the rows: a shorter column
IF_HC_IN = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)
IP_AD_ENT_ADDR = (1, 3, 6, 1, 2, 1, 4, 20, 1, 1)
N_IF = 7
LOCATION_BYTES = b"\xc3\x28lab\xff"

COMMUNITY = "ne1"  # snmpsim: community = data file name
V3_USER = "emsuser"
V3_AUTH = "auth-secret-1"
V3_PRIV = "priv-secret-1"

V2C = CredentialProfile(name="lab-v2c", community=COMMUNITY)
SNMPSIM_USER = V3User(V3_USER, "sha256", "aes", V3_AUTH, V3_PRIV)
V3 = SNMPSIM_USER.profile("lab-v3")


def _records() -> dict[tuple[int, ...], tuple[str, str]]:
    recs: dict[tuple[int, ...], tuple[str, str]] = {
        SYS_DESCR: ("4", "emspool test NE"),
        SYS_OBJECT_ID: ("6", "1.3.6.1.4.1.8072.3.2.10"),
        SYS_UPTIME: ("67", "4242"),
        (1, 3, 6, 1, 2, 1, 1, 5, 0): ("4", "rtr-001"),
        SYS_LOCATION: ("4x", LOCATION_BYTES.hex()),
        (*IP_AD_ENT_ADDR, 10, 0, 0, 1): ("64", "10.0.0.1"),
    }
    for i in range(1, N_IF + 1):
        recs[(*IF_ENTRY, 1, i)] = ("2", str(i))
        recs[(*IF_DESCR, i)] = ("4", f"ge-0/0/{i}")
        recs[(*IF_SPEED, i)] = ("66", "1000000000")
        recs[(*IF_ENTRY, 7, i)] = ("2", "1")
        recs[(*IF_OPER, i)] = ("2", "1" if i % 3 else "2")
        recs[(*IF_IN_OCTETS, i)] = ("65", str(1000 * i))
        recs[(*IF_HC_IN, i)] = ("70", str(2**40 + i))
    for i in (1, 2):
        recs[(*IF_ALIAS, i)] = ("4", f"uplink {i}")
    return recs


def _target(port: int, profile: CredentialProfile = V2C, **kw: object) -> SnmpTarget:
    if profile.version is SnmpVersion.V3:
        kw.setdefault("context", COMMUNITY)
    return SnmpTarget("127.0.0.1", port, profile, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def snmpsim_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("snmpsim")
    write_snmprec(root / "data", COMMUNITY, [(o, t, v) for o, (t, v) in _records().items()])
    with running_snmpsim(root, SNMPSIM_USER, (COMMUNITY, "1.3.6.1.2.1.1.1.0")) as port:
        yield port


class _Garbage(asyncio.DatagramProtocol):
    """Answers every datagram with bytes that are not (valid) SNMP."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        if self.reply is not None and self.transport is not None:
            self.transport.sendto(self.reply if self.reply else data[: len(data) // 2], addr)


class _DelayProxy(UdpRelay):
    """Forwards each request to an upstream agent and relays its answer ``delay`` s late."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        super().__init__(upstream)
        self.delay = delay

    async def handle(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = await self.ask_upstream(data)
        await asyncio.sleep(self.delay)
        self.reply(answer, addr)


# -- functional ------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("profile", [V2C, V3], ids=["v2c", "v3"])
async def test_get_converts_values(
    snmpsim_port: int, client: SnmpClient, profile: CredentialProfile
) -> None:
    oids = [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_LOCATION, (*IP_AD_ENT_ADDR, 10, 0, 0, 1)]
    got = await client.get(_target(snmpsim_port, profile), oids)
    assert got == {
        SYS_DESCR: b"emspool test NE",
        SYS_OBJECT_ID: (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
        SYS_UPTIME: 4242,
        SYS_LOCATION: LOCATION_BYTES,
        (*IP_AD_ENT_ADDR, 10, 0, 0, 1): "10.0.0.1",
    }


@pytest.mark.timeout(30)
@pytest.mark.parametrize("profile", [V2C, V3], ids=["v2c", "v3"])
async def test_get_missing_instance_is_none(
    snmpsim_port: int, client: SnmpClient, profile: CredentialProfile
) -> None:
    missing = (1, 3, 6, 1, 2, 1, 1, 9, 9, 9)
    got = await client.get(_target(snmpsim_port, profile), [SYS_DESCR, missing])
    assert got[missing] is None
    assert got[SYS_DESCR] == b"emspool test NE"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("profile", [V2C, V3], ids=["v2c", "v3"])
async def test_walk_subtree(
    snmpsim_port: int, client: SnmpClient, profile: CredentialProfile
) -> None:
    rows = await client.walk(_target(snmpsim_port, profile), SYSTEM)
    assert [oid for oid, _ in rows] == sorted(o for o in _records() if o[:7] == SYSTEM)
    assert dict(rows)[SYS_LOCATION] == LOCATION_BYTES
    speeds = await client.walk(_target(snmpsim_port, profile), IF_SPEED)
    assert speeds == [((*IF_SPEED, i), 1_000_000_000) for i in range(1, N_IF + 1)]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("profile", [V2C, V3], ids=["v2c", "v3"])
@pytest.mark.parametrize("reps", [3, 25])
async def test_walk_many_columns_stop_independently(
    snmpsim_port: int, profile: CredentialProfile, reps: int
) -> None:
    # reps=3 forces several GETBULK rounds; with 25, 5 columns ask for 125 varbinds and snmpsim
    # answers at most 64 (a truncated answer). ifAlias ends after 2 rows.
    c = SnmpClient(max_repetitions=reps)
    try:
        cols = [IF_DESCR, IF_OPER, IF_IN_OCTETS, IF_ALIAS, IF_HC_IN]
        got = await c.walk_many(_target(snmpsim_port, profile), cols)
    finally:
        c.close()
    assert list(got) == cols
    assert got[IF_DESCR] == [((*IF_DESCR, i), f"ge-0/0/{i}".encode()) for i in range(1, 8)]
    assert [v for _, v in got[IF_OPER]] == [1 if i % 3 else 2 for i in range(1, N_IF + 1)]
    assert [v for _, v in got[IF_IN_OCTETS]] == [1000 * i for i in range(1, N_IF + 1)]
    assert got[IF_ALIAS] == [((*IF_ALIAS, 1), b"uplink 1"), ((*IF_ALIAS, 2), b"uplink 2")]
    assert [v for _, v in got[IF_HC_IN]] == [2**40 + i for i in range(1, N_IF + 1)]


@pytest.mark.timeout(30)
async def test_walk_v1_uses_getnext(snmpsim_port: int, client: SnmpClient) -> None:
    v1 = CredentialProfile(name="lab-v1", version=SnmpVersion.V1, community=COMMUNITY)
    got = await client.walk_many(_target(snmpsim_port, v1), [IF_DESCR, IF_ALIAS])
    assert len(got[IF_DESCR]) == N_IF
    assert len(got[IF_ALIAS]) == 2
    # Past the last OID of the agent: SNMPv1 answers noSuchName, which ends the walk.
    assert await client.walk(_target(snmpsim_port, v1), (1, 3, 6, 1, 9)) == []


@pytest.mark.timeout(30)
async def test_walk_max_rows_is_an_error(snmpsim_port: int, client: SnmpClient) -> None:
    with pytest.raises(SnmpProtocolError, match=f"127.0.0.1:{snmpsim_port}"):
        await client.walk(_target(snmpsim_port), IF_ENTRY, max_rows=10)


@pytest.mark.timeout(30)
async def test_target_cache_is_reused_bounded_and_invalidated(snmpsim_port: int) -> None:
    c = SnmpClient(max_targets=2)
    try:
        await c.get(_target(snmpsim_port), [SYS_DESCR])
        await c.get(_target(snmpsim_port), [SYS_DESCR])
        assert c.cached_targets == 1
        await c.get(_target(snmpsim_port, timeout=1.0), [SYS_DESCR])
        await c.get(_target(snmpsim_port, V3), [SYS_DESCR])
        assert c.cached_targets == 2  # the LRU bound held
        # Same profile name, new secret: the old rows go, the new credentials are used.
        changed = CredentialProfile(name=V2C.name, community="wrong")
        with pytest.raises(SnmpTimeout):
            await c.get(_target(snmpsim_port, changed, timeout=0.3, retries=0), [SYS_DESCR])
        assert c.invalidate_profile(V2C.name) == 1
        assert (await c.get(_target(snmpsim_port), [SYS_DESCR]))[SYS_DESCR]
    finally:
        c.close()


@pytest.mark.timeout(10)
async def test_unknown_protocol_name_is_config_error(client: SnmpClient) -> None:
    bad = CredentialProfile(
        name="bad", version=SnmpVersion.V3, user="u", auth_protocol="sha3", auth_key="x" * 8
    )
    with pytest.raises(ConfigError, match="sha3"):
        await client.get(SnmpTarget("127.0.0.1", 161, bad), [SYS_DESCR])


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_wrong_community_times_out(snmpsim_port: int, client: SnmpClient) -> None:
    profile = CredentialProfile(name="wrong", community="not-the-community")
    target = _target(snmpsim_port, profile, timeout=0.5, retries=1)
    t0 = time.monotonic()
    with pytest.raises(SnmpTimeout) as err:
        await client.get(target, [SYS_DESCR])
    assert time.monotonic() - t0 < 0.5 * 2 + 0.5
    assert "not-the-community" not in str(err.value)
    assert f"127.0.0.1:{snmpsim_port}" in str(err.value)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("field", ["auth_key", "priv_key"])
async def test_wrong_v3_key_is_a_timeout_naming_the_report(
    snmpsim_port: int, client: SnmpClient, field: str
) -> None:
    # The agent's report about a wrong key cannot be authenticated (RFC 3414 3.1.1), so
    # anybody could have sent it: it names the failure but never ends the request (item 9).
    keys = {"auth_key": V3_AUTH, "priv_key": V3_PRIV, field: "WRONG-secret-9"}
    profile = CredentialProfile(
        name="lab-v3-wrong",
        version=SnmpVersion.V3,
        user=V3_USER,
        auth_protocol="sha256",
        priv_protocol="aes",
        **keys,
    )
    target = _target(snmpsim_port, profile, timeout=0.5, retries=0)
    with pytest.raises(SnmpTimeout) as err:
        await client.get(target, [SYS_DESCR])
    report = "wrongDigest" if field == "auth_key" else "decryptionError"
    assert f"(agent reported {report}, unauthenticated)" in str(err.value)
    assert f"127.0.0.1:{snmpsim_port}" in str(err.value)
    assert "WRONG-secret-9" not in str(err.value)
    assert "WRONG-secret-9" not in repr(target)


@pytest.mark.timeout(30)
async def test_same_v3_user_with_other_keys_does_not_disturb(
    snmpsim_port: int, client: SnmpClient
) -> None:
    """Two profiles share a user name but not the keys (e.g. one is stale): both coexist."""
    stale = CredentialProfile(
        name="stale",
        version=SnmpVersion.V3,
        user=V3_USER,
        auth_protocol="sha256",
        auth_key="old-auth-key-0",
        priv_protocol="aes",
        priv_key="old-priv-key-0",
    )
    good, bad = _target(snmpsim_port, V3), _target(snmpsim_port, stale, timeout=0.5, retries=0)
    for _ in range(2):
        results = await asyncio.gather(
            client.get(good, [SYS_DESCR]), client.get(bad, [SYS_DESCR]), return_exceptions=True
        )
        assert results[0] == {SYS_DESCR: b"emspool test NE"}
        assert isinstance(results[1], SnmpTimeout)


@pytest.mark.timeout(30)
async def test_unknown_v3_user_is_a_timeout_naming_the_report(
    snmpsim_port: int, client: SnmpClient
) -> None:
    profile = CredentialProfile(
        name="nouser",
        version=SnmpVersion.V3,
        user="nobody",
        auth_protocol="sha256",
        auth_key=V3_AUTH,
        priv_protocol="aes",
        priv_key=V3_PRIV,
    )
    with pytest.raises(SnmpTimeout, match="agent reported unknownUserName, unauthenticated"):
        await client.get(_target(snmpsim_port, profile, timeout=0.5, retries=0), [SYS_DESCR])


@pytest.mark.timeout(20)
@pytest.mark.parametrize("profile", [V2C, V3], ids=["v2c", "v3"])
async def test_nothing_listening_times_out_in_bound(
    client: SnmpClient, profile: CredentialProfile
) -> None:
    port = free_udp_port()
    timeout, retries = 0.4, 2
    t0 = time.monotonic()
    with pytest.raises(SnmpTimeout):
        await client.walk(_target(port, profile, timeout=timeout, retries=retries), SYSTEM)
    elapsed = time.monotonic() - t0
    assert elapsed <= timeout * (retries + 1) + 0.5
    assert elapsed >= timeout * (retries + 1) - 0.15  # it did retry


@pytest.mark.timeout(30)
async def test_slow_ne_does_not_hold_up_others(snmpsim_port: int, client: SnmpClient) -> None:
    proxy = _DelayProxy(("127.0.0.1", snmpsim_port), delay=2.0)
    async with udp_server(proxy) as slow_port:
        slow = _target(slow_port, timeout=0.5, retries=1)
        fast = _target(snmpsim_port, timeout=0.5, retries=1)
        t0 = time.monotonic()
        slow_task = asyncio.create_task(client.walk(slow, SYSTEM))
        fast_rows = await client.walk(fast, IF_DESCR)
        fast_elapsed = time.monotonic() - t0
        slow_pending_meanwhile = not slow_task.done()
        with pytest.raises(SnmpTimeout):
            await slow_task
        slow_elapsed = time.monotonic() - t0
        # The late answers arrive after the timeout: they must be dropped quietly.
        await asyncio.sleep(2.2)
        assert len(await client.walk(fast, IF_DESCR)) == N_IF
        for task in list(proxy.tasks):
            task.cancel()
    assert len(fast_rows) == N_IF
    assert slow_pending_meanwhile  # the fast NE was served while the slow one still waited
    assert fast_elapsed < 0.8  # unloaded: ~0.05 s; the slow NE's timeout is 2 x 0.5 s
    assert 0.9 <= slow_elapsed <= 1.5


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "reply",
    [
        b"\x00\x01garbage",
        b"",  # sentinel: echo back the first half of the request (a truncated PDU)
        bytes.fromhex("302902010104067075626c6963a21c0204"),  # response cut mid-header
    ],
    ids=["garbage", "truncated-echo", "cut-response"],
)
async def test_garbage_answer_is_timeout_not_crash(client: SnmpClient, reply: bytes) -> None:
    proto = _Garbage(reply)
    async with udp_server(proto) as port:
        with pytest.raises((SnmpTimeout, SnmpProtocolError)):
            await client.get(_target(port, timeout=0.3, retries=1), [SYS_DESCR])
    assert proto.received == 2  # first try and one retry, nothing crashed in between


class _Misbehaving(asyncio.DatagramProtocol):
    """A v2c agent that answers every request with fixed varbinds and an error status."""

    def __init__(self, varbinds: list[tuple[tuple[int, ...], int]], error_status: int = 0):
        self.varbinds = varbinds
        self.error_status = error_status
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        from pyasn1.codec.ber import decoder, encoder
        from pysnmp.proto import api

        p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
        msg, _ = decoder.decode(data, asn1Spec=p.Message())
        req = p.apiMessage.get_pdu(msg)
        rsp = p.apiPDU.get_response(req)
        p.apiPDU.set_varbinds(rsp, [(o, p.Integer(v)) for o, v in self.varbinds])
        p.apiPDU.set_error_status(rsp, self.error_status)
        p.apiPDU.set_error_index(rsp, 1 if self.error_status else 0)
        p.apiMessage.set_pdu(msg, rsp)
        assert self.transport is not None
        self.transport.sendto(encoder.encode(msg), addr)


@pytest.mark.timeout(20)
async def test_looping_agent_is_protocol_error(client: SnmpClient) -> None:
    # Always the same row: the second request gets an OID that does not increase.
    looping = _Misbehaving([((*IF_DESCR, 1), 1), ((*IF_DESCR, 2), 2)])
    async with udp_server(looping) as port:
        with pytest.raises(SnmpProtocolError, match="not increasing"):
            await client.walk(_target(port, timeout=1.0), IF_DESCR)


@pytest.mark.timeout(20)
async def test_error_status_is_protocol_error(client: SnmpClient) -> None:
    async with udp_server(_Misbehaving([(SYS_DESCR, 0)], error_status=5)) as port:
        with pytest.raises(SnmpProtocolError, match="genErr"):
            await client.get(_target(port, timeout=1.0), [SYS_DESCR])
        with pytest.raises(SnmpProtocolError, match="genErr"):
            await client.walk(_target(port, timeout=1.0), SYSTEM)


@pytest.mark.timeout(20)
async def test_cancelled_walk_leaves_client_usable(snmpsim_port: int, client: SnmpClient) -> None:
    proxy = _DelayProxy(("127.0.0.1", snmpsim_port), delay=0.5)
    async with udp_server(proxy) as slow_port:
        task = asyncio.create_task(client.walk(_target(slow_port, timeout=2.0), SYSTEM))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # the late answer to the cancelled request arrives now
        rows = await client.walk(_target(snmpsim_port), SYSTEM)
        assert len(rows) == sum(1 for o in _records() if o[:7] == SYSTEM)


# -- the native v1/v2c transport ---------------------------------------------------------------


class _Forging(asyncio.DatagramProtocol):
    """A v2c agent answering ``sysDescr.0 = "ok"`` to every request, possibly wrongly: with
    another request-id, another community, or from another socket (another source port)."""

    def __init__(
        self,
        *,
        id_offset: int = 0,
        community: bytes | None = None,
        via: asyncio.DatagramTransport | None = None,
    ) -> None:
        self.id_offset = id_offset
        self.community = community
        self.via = via
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        from pyasn1.codec.ber import decoder
        from pysnmp.proto import api

        from shared import ber

        self.received += 1
        p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
        msg, _ = decoder.decode(data, asn1Spec=p.Message())
        community = bytes(p.apiMessage.get_community(msg))
        request_id = int(p.apiPDU.get_request_id(p.apiMessage.get_pdu(msg)))
        answer = ber.encode_response_pdu(
            ber.VERSION_V2C,
            community if self.community is None else self.community,
            request_id + self.id_offset,
            [(SYS_DESCR, b"ok")],
        )
        sender = self.via or self.transport
        assert sender is not None
        sender.sendto(answer, addr)


async def _drop_test(client: SnmpClient, proto: _Forging, counter: str) -> None:
    async with udp_server(proto) as port:
        with pytest.raises(SnmpTimeout):
            await client.get(_target(port, timeout=0.3, retries=1), [SYS_DESCR])
    assert proto.received == 2  # both attempts were answered, and both answers dropped
    assert client.transport_stats[counter] == 2


@pytest.mark.timeout(20)
async def test_answer_from_another_source_port_is_dropped(client: SnmpClient) -> None:
    loop = asyncio.get_running_loop()
    other, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        await _drop_test(client, _Forging(via=other), "wrong_source")
    finally:
        other.close()


@pytest.mark.timeout(20)
async def test_answer_with_another_request_id_is_dropped(client: SnmpClient) -> None:
    await _drop_test(client, _Forging(id_offset=1), "unknown_request_id")


@pytest.mark.timeout(20)
async def test_answer_with_another_community_is_dropped(client: SnmpClient) -> None:
    await _drop_test(client, _Forging(community=b"someone-else"), "wrong_community")


@pytest.mark.timeout(20)
async def test_well_formed_answer_is_accepted_and_malformed_counted(client: SnmpClient) -> None:
    # The control for the three tests above: the same forger, answering correctly.
    async with udp_server(_Forging()) as port:
        got = await client.get(_target(port, timeout=0.3, retries=0), [SYS_DESCR])
    assert got == {SYS_DESCR: b"ok"}
    async with udp_server(_Garbage(b"\x30\x03\x02\x01")) as port:
        with pytest.raises(SnmpTimeout):
            await client.get(_target(port, timeout=0.2, retries=0), [SYS_DESCR])
    stats = client.transport_stats
    assert stats["malformed"] == 1
    assert stats["wrong_source"] == stats["wrong_community"] == 0


@pytest.mark.timeout(30)
async def test_v2c_goes_through_native_transport_and_stops_at_end_of_mib(
    snmpsim_port: int, client: SnmpClient
) -> None:
    # Past the agent's last OID, GETBULK answers endOfMibView: an empty walk, not an error.
    assert await client.walk(_target(snmpsim_port), (1, 3, 6, 1, 9)) == []
    rows = await client.walk(_target(snmpsim_port), IF_DESCR)
    assert len(rows) == N_IF
    stats = client.transport_stats
    assert stats["sent"] >= 2 and stats["timeouts"] == 0


@pytest.mark.timeout(30)
async def test_pysnmp_path_still_available_for_v2c(snmpsim_port: int) -> None:
    c = SnmpClient(native_v2c=False)
    try:
        rows = await c.walk(_target(snmpsim_port), IF_DESCR)
        assert c.transport_stats == {}
    finally:
        c.close()
    assert len(rows) == N_IF


@pytest.mark.timeout(20)
async def test_close_fails_waiting_native_requests(client: SnmpClient) -> None:
    async with udp_server(_Garbage(None)) as port:  # never answers
        task = asyncio.create_task(client.get(_target(port, timeout=5.0), [SYS_DESCR]))
        await asyncio.sleep(0.1)
        client.close()
        with pytest.raises(SnmpError, match="closed"):
            await asyncio.wait_for(task, 2)


# -- native SNMPv3 (USM) path ----------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_v3_goes_through_native_transport(snmpsim_port: int, client: SnmpClient) -> None:
    rows = await client.walk(_target(snmpsim_port, V3), IF_DESCR)
    assert [v for _, v in rows] == [f"ge-0/0/{i}".encode() for i in range(1, N_IF + 1)]
    assert (await client.get(_target(snmpsim_port, V3), [SYS_UPTIME]))[SYS_UPTIME] == 4242
    stats = client.v3_transport_stats
    assert stats["discoveries"] == 1  # the engine is learnt once and reused
    assert stats["timeouts"] == stats["wrong_digest"] == stats["malformed"] == 0
    assert client.transport_stats["sent"] == 0  # nothing went the v2c way


@pytest.mark.timeout(30)
async def test_pysnmp_path_still_available_for_v3(snmpsim_port: int) -> None:
    c = SnmpClient(native_v3=False)
    try:
        rows = await c.walk(_target(snmpsim_port, V3), IF_DESCR)
        assert c.v3_transport_stats == {}
    finally:
        c.close()
    assert len(rows) == N_IF


class _TamperProxy(UdpRelay):
    """Relays to an upstream agent, flipping one octet near the end of authenticated answers."""

    async def handle(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = bytearray(await self.ask_upstream(data))
        if b"emsuser" in answer:  # discovery reports carry no user name: leave them intact
            answer[-2] ^= 0x40
        self.reply(bytes(answer), addr)


@pytest.mark.timeout(30)
async def test_v3_tampered_answer_is_dropped(snmpsim_port: int, client: SnmpClient) -> None:
    async with udp_server(_TamperProxy(("127.0.0.1", snmpsim_port))) as port:
        with pytest.raises(SnmpTimeout):
            await client.get(_target(port, V3, timeout=0.4, retries=1), [SYS_DESCR])
    stats = client.v3_transport_stats
    assert stats["discoveries"] == 1
    assert stats["wrong_digest"] >= 2  # both attempts answered, both answers refused


async def _get_until(client: SnmpClient, target: SnmpTarget, deadline_s: float) -> object:
    end = time.monotonic() + deadline_s
    while True:
        try:
            return await client.get(target, [SYS_DESCR])
        except SnmpTimeout:
            if time.monotonic() > end:
                raise


@pytest.mark.timeout(90)
async def test_v3_recovers_after_device_restart(tmp_path: Path, client: SnmpClient) -> None:
    """A restarted agent (same engine ID, its clock back at 0) is resynchronised, not an error."""
    data = tmp_path / "data"
    data.mkdir()
    (data / f"{COMMUNITY}.snmprec").write_text("1.3.6.1.2.1.1.1.0|4|emspool test NE\n")
    port = free_udp_port()
    target = _target(port, V3, timeout=0.5, retries=0)
    proc = start_snmpsim(tmp_path, port, SNMPSIM_USER, engine_id="80001f8804656d73706f6f6c")
    try:
        assert await _get_until(client, target, 30) == {SYS_DESCR: b"emspool test NE"}
        discoveries = client.v3_transport_stats["discoveries"]
        await asyncio.sleep(2.5)  # let our idea of its clock run ahead of the new process's
    finally:
        stop(proc)
    proc = start_snmpsim(tmp_path, port, SNMPSIM_USER, engine_id="80001f8804656d73706f6f6c")
    try:
        assert await _get_until(client, target, 30) == {SYS_DESCR: b"emspool test NE"}
    finally:
        stop(proc)
    stats = client.v3_transport_stats
    assert stats["discoveries"] == discoveries  # recovered by a resync from the report alone
    assert stats["resyncs"] >= 1


# -- native SNMPv3 against net-snmp snmpd ----------------------------------------------------

SNMPD_USERS = {
    u.name: u
    for u in (
        V3User("emsuser", "sha256", "aes", V3_AUTH, V3_PRIV),
        V3User("emsbig", "sha512", "aes256", V3_AUTH, V3_PRIV),
    )
}
SNMPD_SYS_OBJECT = (1, 3, 6, 1, 2, 1, 1, 2, 0)


@pytest.fixture(scope="module")
def snmpd_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running_snmpd(tmp_path_factory.mktemp("snmpd"), list(SNMPD_USERS.values())) as port:
        yield port


def _snmpd_profile(user: str, **keys: str) -> CredentialProfile:
    return SNMPD_USERS[user].profile(f"snmpd-{user}", **keys)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("user", list(SNMPD_USERS))
async def test_native_v3_against_net_snmp(snmpd_port: int, client: SnmpClient, user: str) -> None:
    target = SnmpTarget("127.0.0.1", snmpd_port, _snmpd_profile(user), timeout=1.0)
    got = await client.get(target, [SNMPD_SYS_OBJECT, SYS_UPTIME])
    assert isinstance(got[SNMPD_SYS_OBJECT], tuple) and isinstance(got[SYS_UPTIME], int)
    rows = await client.walk(target, (1, 3, 6, 1, 2, 1, 1))
    assert len(rows) >= 5
    assert client.v3_transport_stats["timeouts"] == 0


@pytest.mark.timeout(30)
async def test_native_v3_wrong_auth_key_against_net_snmp(
    snmpd_port: int, client: SnmpClient
) -> None:
    # (A wrong privacy key is not reported by net-snmp: it drops what it cannot parse.)
    profile = _snmpd_profile("emsuser", auth_key="WRONG-secret-9")
    target = SnmpTarget("127.0.0.1", snmpd_port, profile, timeout=0.5, retries=0)
    with pytest.raises(SnmpTimeout, match="agent reported wrongDigest, unauthenticated") as err:
        await client.get(target, [SYS_UPTIME])
    assert "WRONG-secret-9" not in str(err.value)

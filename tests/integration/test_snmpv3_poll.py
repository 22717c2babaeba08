"""SNMPv3 polls against real agents: unauthenticated Reports (a spoofer between us and
net-snmp's snmpd), pinned engine IDs, context names (snmpsim serves one per data file, read
through the Poller), and what a changed or removed profile leaves in the caches."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.app import Agent
from agent.netconf import NetconfClient
from agent.netconf.poller import NetconfPoller
from agent.poller import Poller, PollTarget
from agent.snmp import SnmpClient, SnmpTarget
from shared import ber, usm
from shared.config import AgentConfig, PollingConfig
from shared.errors import SnmpTimeout
from shared.model import CredentialProfile, NetworkElement, SnmpVersion
from shared.nodal import NodalModel
from tests.helpers.netsnmp import (
    V3User,
    free_udp_port,
    netsnmp_text_engine_id,
    start_snmpd,
    stop,
)

pytestmark = pytest.mark.skipif(shutil.which("snmpd") is None, reason="net-snmp snmpd missing")

USER = V3User("poller", "sha256", "aes")
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
PROFILE = CredentialProfile(
    "p3",
    SnmpVersion.V3,
    user=USER.name,
    auth_protocol=USER.auth,
    auth_key=USER.auth_key,
    priv_protocol=USER.priv,
    priv_key=USER.priv_key,
)
SNMPD_ENGINE = netsnmp_text_engine_id("emspool-test")


@pytest.fixture(scope="module")
def snmpd_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_udp_port()
    proc = start_snmpd(
        tmp_path_factory.mktemp("snmpd-v3"), port, [USER], engine_text="emspool-test"
    )
    try:
        yield port
    finally:
        stop(proc)


@pytest.fixture
async def client() -> AsyncIterator[SnmpClient]:
    c = SnmpClient()
    try:
        yield c
    finally:
        c.close()


def forged_report(request: bytes, name: str) -> bytes:
    """What anybody on the path can send: an unauthenticated Report for our msgID."""
    msg = usm.decode_message(request)
    engine = msg.engine_id or bytes.fromhex("80001f8804deadbeef")
    scoped = usm.encode_scoped_pdu(engine, b"", usm.encode_report_pdu(0x7FFFFFFF, name, 1))
    datagram, _ = usm.encode_message(msg_id=msg.msg_id, flags=0, engine_id=engine,
                                     engine_boots=1, engine_time=1, user=msg.user,
                                     auth_length=0, priv_params=b"", data=scoped,
                                     encrypted=False)  # fmt: skip
    return datagram


class Spoofer(asyncio.DatagramProtocol):
    """Between us and the agent: answers each request first with a forged Report, then
    relays the agent's real answer (``relay=False``: the agent is never reached)."""

    def __init__(self, upstream: tuple[str, int], report: str, relay: bool = True) -> None:
        self.upstream, self.report, self.relay = upstream, report, relay
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.forged = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self._relay(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _relay(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if usm.decode_message(data).authenticated:  # discovery goes through untouched
            self.transport.sendto(forged_report(data, self.report), addr)
            self.forged += 1
            if not self.relay:
                return
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            s.connect(self.upstream)
            await loop.sock_sendall(s, data)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3):
                    answer = await loop.sock_recv(s, 65535)
                await asyncio.sleep(0.05)  # the forgery always wins the race
                self.transport.sendto(answer, addr)


@contextlib.asynccontextmanager
async def proxy(protocol: Spoofer) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: protocol, local_addr=("127.0.0.1", 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()
        for task in list(protocol.tasks):
            task.cancel()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "report", ["wrongDigest", "unknownUserName", "decryptionError", "unsupportedSecurityLevel"]
)
async def test_spoofed_unauthenticated_report_does_not_end_the_request(
    snmpd_port: int, client: SnmpClient, report: str
) -> None:
    spoofer = Spoofer(("127.0.0.1", snmpd_port), report)
    async with proxy(spoofer) as port:
        got = await client.get(SnmpTarget("127.0.0.1", port, PROFILE, timeout=1.0), [SYS_UPTIME])
    assert isinstance(got[SYS_UPTIME], int)
    assert spoofer.forged >= 1
    assert client.v3_transport_stats["unauthenticated_reports"] == spoofer.forged


@pytest.mark.timeout(30)
async def test_only_unauthenticated_reports_make_a_timeout_that_names_them(
    snmpd_port: int, client: SnmpClient
) -> None:
    spoofer = Spoofer(("127.0.0.1", snmpd_port), "wrongDigest", relay=False)
    async with proxy(spoofer) as port:
        target = SnmpTarget("127.0.0.1", port, PROFILE, timeout=0.3, retries=1)
        with pytest.raises(SnmpTimeout) as err:
            await client.get(target, [SYS_UPTIME])
    assert "(agent reported wrongDigest, unauthenticated)" in str(err.value)
    assert spoofer.forged == 2  # both attempts answered by the forger; neither believed


@pytest.mark.timeout(30)
async def test_pinned_engine_id_is_used_and_enforced(snmpd_port: int, client: SnmpClient) -> None:
    good = SnmpTarget("127.0.0.1", snmpd_port, PROFILE, timeout=1.0, engine_id=SNMPD_ENGINE)
    assert isinstance((await client.get(good, [SYS_UPTIME]))[SYS_UPTIME], int)
    stats = client.v3_transport_stats
    assert stats["discoveries"] == 0 and stats["resyncs"] == 1  # clock from an auth'd report
    other = SnmpClient()
    try:
        wrong = SnmpTarget(
            "127.0.0.1", snmpd_port, PROFILE, timeout=0.4, retries=0, engine_id="8000000001aa"
        )
        with pytest.raises(SnmpTimeout, match=f"from engine {SNMPD_ENGINE.lower()}, pinned"):
            await other.get(wrong, [SYS_UPTIME])
    finally:
        other.close()


@pytest.mark.timeout(60)
async def test_changed_or_removed_profile_leaves_nothing_cached(snmpd_port: int) -> None:
    """Item 15 through the agent's own wiring (Agent.set_managed): a changed profile's old
    key stops working and leaves no key or target behind; a removed one leaves nothing."""
    agent = Agent(AgentConfig(node_id="t15", polling=PollingConfig(interval=3600.0)))
    client = SnmpClient()
    agent.poller = Poller(client, agent.model, agent.emit, agent.config.polling)
    nc_client = NetconfClient(workers=1)
    agent.nc_poller = NetconfPoller(nc_client, agent.model, agent.emit, agent.config.polling)
    ne = NetworkElement("ne1", "127.0.0.1", snmpd_port, profile=PROFILE.name)
    try:
        agent.set_managed([ne], {PROFILE.name: PROFILE})
        target = SnmpTarget("127.0.0.1", snmpd_port, PROFILE, timeout=1.0)
        assert isinstance((await client.get(target, [SYS_UPTIME]))[SYS_UPTIME], int)
        keys = client._v3_transport.keys  # type: ignore[union-attr]
        assert keys.holds(USER.auth_key.encode()) and client.cached_targets == 1

        changed = CredentialProfile(**{**_fields(PROFILE), "auth_key": "a-new-auth-key"})
        agent.set_managed([ne], {PROFILE.name: changed})
        assert not keys.holds(USER.auth_key.encode()) and not keys.holds(USER.priv_key.encode())
        assert client.cached_targets == 0
        target = SnmpTarget("127.0.0.1", snmpd_port, changed, timeout=0.4, retries=0)
        with pytest.raises(SnmpTimeout, match="wrongDigest"):  # snmpd has the old key
            await client.get(target, [SYS_UPTIME])

        agent.set_managed([ne], {})  # the profile is gone
        assert len(keys) == 0 and client.cached_targets == 0
    finally:
        await agent.poller.close()
        await agent.nc_poller.close()
        await nc_client.aclose()
        client.close()


def _fields(p: CredentialProfile) -> dict[str, object]:
    return {f: getattr(p, f) for f in p.__dataclass_fields__}


# -- context names (snmpsim: over v3 the context name picks the data file) --------------------


@pytest.fixture(scope="module")
def contexts_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("snmpsim-contexts")
    data = root / "data"
    data.mkdir()
    for name, descr in (("self", "default instance"), ("vrf-red", "red"), ("vrf-blue", "blue")):
        (data / f"{name}.snmprec").write_text(
            f"1.3.6.1.2.1.1.1.0|4|{descr}\n1.3.6.1.2.1.1.3.0|67|4242\n1.3.6.1.2.1.1.5.0|4|{name}\n"
        )
    port = free_udp_port()
    exe = Path(sys.executable).with_name("snmpsim-command-responder")
    proc = subprocess.Popen(
        [
            str(exe),
            f"--cache-dir={root / 'cache'}",
            "--logging-method=null",
            "--v3-engine-id=auto",
            f"--v3-user={USER.name}",
            f"--v3-auth-key={USER.auth_key}",
            "--v3-auth-proto=SHA256",
            f"--v3-priv-key={USER.priv_key}",
            "--v3-priv-proto=AES",
            f"--data-dir={data}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        ],
        env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def ready() -> None:
        c = SnmpClient()
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    await c.get(SnmpTarget("127.0.0.1", port, PROFILE, 0.3, 0), [SYS_DESCR])
                    return
                except SnmpTimeout:
                    assert time.monotonic() < deadline, "snmpsim did not answer"
        finally:
            c.close()

    try:
        asyncio.run(ready())
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.timeout(60)
async def test_polls_use_the_ne_context_else_the_profile_context(contexts_port: int) -> None:
    red = CredentialProfile(**{**_fields(PROFILE), "name": "red", "context": "vrf-red"})
    nes = [
        NetworkElement("plain", "127.0.0.1", contexts_port, profile=PROFILE.name),
        NetworkElement("by-profile", "127.0.0.1", contexts_port, profile="red"),
        NetworkElement("by-ne", "127.0.0.1", contexts_port, profile="red", context="vrf-blue"),
    ]
    model = NodalModel("ctx")
    client = SnmpClient()
    poller = Poller(client, model, lambda _: None, PollingConfig(interval=1.0, timeout=1.0))
    profiles = {PROFILE.name: PROFILE, "red": red}
    try:
        for ne in nes:
            model.add_ne(ne.name, ne)
        poller.set_targets({ne.name: PollTarget(ne, profiles[ne.profile]) for ne in nes})
        deadline = time.monotonic() + 20
        while any(not model.states[ne.name].sys_descr for ne in nes):
            assert time.monotonic() < deadline, {n: s.last_error for n, s in model.states.items()}
            await asyncio.sleep(0.1)
    finally:
        await poller.close()
        client.close()
    descr = {name: st.sys_descr for name, st in model.states.items()}
    assert descr == {"plain": "default instance", "by-profile": "red", "by-ne": "blue"}


def test_forged_report_is_what_usm_reads() -> None:
    """The test's forger builds what a Report is (not what our client expects)."""
    req, _ = usm.encode_message(msg_id=7, flags=7, engine_id=b"\x80\x00\x00\x00\x01",
                                engine_boots=1, engine_time=2, user=b"u", auth_length=12,
                                priv_params=b"\x00" * 8, data=b"x", encrypted=True)  # fmt: skip
    forged = usm.decode_message(forged_report(req, "wrongDigest"))
    assert (forged.msg_id, forged.flags, forged.authenticated) == (7, 0, False)
    pdu = usm.decode_scoped_pdu(forged.data).pdu
    assert pdu.pdu_type == ber.PDU_REPORT and usm.report_name(pdu) == "wrongDigest"

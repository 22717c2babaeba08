"""SNMPv3 polls against real agents: unauthenticated Reports (a spoofer between us and
net-snmp's snmpd), pinned engine IDs, context names (snmpsim serves one per data file, read
through the Poller), and what a changed or removed profile leaves in the caches."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Iterator

import pytest

from agent.app import Agent
from agent.netconf import NetconfClient
from agent.netconf.poller import NetconfPoller
from agent.poller import Poller, PollTarget
from agent.snmp import SnmpClient, SnmpTarget
from shared import ber, usm
from shared.config import AgentConfig, PollingConfig
from shared.errors import SnmpTimeout
from shared.model import CredentialProfile, NetworkElement
from shared.nodal import NodalModel
from tests.helpers.netsnmp import V3User, netsnmp_text_engine_id, running_snmpd
from tests.helpers.snmpsim import running_snmpsim, write_snmprec
from tests.helpers.udprelay import UdpRelay, udp_server

pytestmark = pytest.mark.skipif(shutil.which("snmpd") is None, reason="net-snmp snmpd missing")

USER = V3User("poller", "sha256", "aes")
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
PROFILE = USER.profile("p3")
SNMPD_ENGINE = netsnmp_text_engine_id("emspool-test")


@pytest.fixture(scope="module")
def snmpd_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("snmpd-v3")
    with running_snmpd(root, [USER], engine_text="emspool-test") as port:
        yield port


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


class Spoofer(UdpRelay):
    """Between us and the agent: answers each request first with a forged Report, then
    relays the agent's real answer (``relay=False``: the agent is never reached)."""

    def __init__(self, upstream: tuple[str, int], report: str, relay: bool = True) -> None:
        super().__init__(upstream)
        self.report, self.relay = report, relay
        self.forged = 0

    async def handle(self, data: bytes, addr: tuple[str, int]) -> None:
        if usm.decode_message(data).authenticated:  # discovery goes through untouched
            self.reply(forged_report(data, self.report), addr)
            self.forged += 1
            if not self.relay:
                return
        with contextlib.suppress(TimeoutError):
            answer = await self.ask_upstream(data, timeout=3)
            await asyncio.sleep(0.05)  # the forgery always wins the race
            self.reply(answer, addr)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "report", ["wrongDigest", "unknownUserName", "decryptionError", "unsupportedSecurityLevel"]
)
async def test_spoofed_unauthenticated_report_does_not_end_the_request(
    snmpd_port: int, client: SnmpClient, report: str
) -> None:
    spoofer = Spoofer(("127.0.0.1", snmpd_port), report)
    async with udp_server(spoofer) as port:
        got = await client.get(SnmpTarget("127.0.0.1", port, PROFILE, timeout=1.0), [SYS_UPTIME])
    assert isinstance(got[SYS_UPTIME], int)
    assert spoofer.forged >= 1
    assert client.v3_transport_stats["unauthenticated_reports"] == spoofer.forged


@pytest.mark.timeout(30)
async def test_only_unauthenticated_reports_make_a_timeout_that_names_them(
    snmpd_port: int, client: SnmpClient
) -> None:
    spoofer = Spoofer(("127.0.0.1", snmpd_port), "wrongDigest", relay=False)
    async with udp_server(spoofer) as port:
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
    for name, descr in (("self", "default instance"), ("vrf-red", "red"), ("vrf-blue", "blue")):
        system = (
            ((1, 3, 6, 1, 2, 1, 1, 1, 0), "4", descr),
            ((1, 3, 6, 1, 2, 1, 1, 3, 0), "67", "4242"),
        )
        write_snmprec(root / "data", name, [*system, ((1, 3, 6, 1, 2, 1, 1, 5, 0), "4", name)])
    with running_snmpsim(root, USER, ("vrf-red", "1.3.6.1.2.1.1.1.0")) as port:
        yield port


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

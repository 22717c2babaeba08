"""Every SNMPv3 auth x priv combination against net-snmp: polls (snmpd with createUser lines)
and traps/informs (snmptrap / snmpinform sending to our receiver).

net-snmp is the judge of the key-extension variants: our aes192/aes256 must be its
AES192/AES256 (Blumenthal) and our aes192c/aes256c its AES192C/AES256C (Reeder), and each
must fail against the other (the bug this file guards against: traps and polls used to
disagree on what "aes192" meant).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.snmp import SnmpClient, SnmpTarget
from agent.traps import Notification, TrapReceiver, TrapSource
from shared import snmp_security as sec
from shared.errors import SnmpTimeout
from shared.model import CredentialProfile
from tests.helpers.netsnmp import V3User, run_tool, running_snmpd

pytestmark = pytest.mark.skipif(
    shutil.which("snmpd") is None or shutil.which("snmptrap") is None,
    reason="net-snmp snmpd/snmptrap missing",
)

AUTHS = [a for a in sec.AUTH_PROTOCOLS]
PRIVS = ["none", *(p for p in sec.PRIV_PROTOCOLS if p != "aes128")]  # aes128 = aes
COMBOS = [("none", "none")] + [(a, p) for a in AUTHS for p in PRIVS]
USERS = [V3User(f"u-{a}-{p}", a, p) for a, p in COMBOS]
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_DOWN_OID = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"


def profile(user: V3User, **changes: str) -> CredentialProfile:
    return user.profile(**changes)


@pytest.fixture(scope="module")
def snmpd_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running_snmpd(tmp_path_factory.mktemp("snmpd-matrix"), USERS) as port:
        yield port


@pytest.mark.timeout(120)
async def test_poll_every_combination_against_snmpd(snmpd_port: int, client: SnmpClient) -> None:
    failed = []
    for user in USERS:
        target = SnmpTarget("127.0.0.1", snmpd_port, profile(user), timeout=1.0, retries=1)
        try:
            got = await client.get(target, [SYS_OBJECT_ID, SYS_UPTIME])
            rows = await client.walk(target, (1, 3, 6, 1, 2, 1, 1))
        except Exception as exc:  # collect them all: one run shows the whole matrix
            failed.append(f"{user.auth}/{user.priv}: {exc}")
            continue
        if not isinstance(got[SYS_OBJECT_ID], tuple) or len(rows) < 5:
            failed.append(f"{user.auth}/{user.priv}: {got} {len(rows)} rows")
    assert failed == []
    stats = client.v3_transport_stats
    assert stats["wrong_digest"] == stats["decrypt_errors"] == stats["timeouts"] == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("user", "wrong"),
    [
        ("u-sha-aes192", "aes192c"),
        ("u-sha-aes192c", "aes192"),
        ("u-md5-aes256", "aes256c"),
        ("u-sha224-aes256c", "aes256"),
    ],
)
async def test_the_two_aes_key_extensions_are_not_interchangeable(
    snmpd_port: int, client: SnmpClient, user: str, wrong: str
) -> None:
    found = next(u for u in USERS if u.name == user)
    target = SnmpTarget(
        "127.0.0.1", snmpd_port, profile(found, priv_protocol=wrong), timeout=0.4, retries=0
    )
    with pytest.raises(SnmpTimeout):  # net-snmp drops what it cannot decrypt
        await client.get(target, [SYS_UPTIME])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("user", ["u-sha-aes192", "u-sha-aes192c", "u-md5-aes256c", "u-md5-des"])
async def test_pysnmp_fallback_maps_the_same_protocols(snmpd_port: int, user: str) -> None:
    """The pysnmp path (SnmpClient(native_v3=False)) reads the same table."""
    found = next(u for u in USERS if u.name == user)
    c = SnmpClient(native_v3=False)
    try:
        target = SnmpTarget("127.0.0.1", snmpd_port, profile(found), timeout=1.0, retries=1)
        got = await c.get(target, [SYS_UPTIME])
    finally:
        c.close()
    assert isinstance(got[SYS_UPTIME], int)


# -- traps and informs from net-snmp's senders ------------------------------------------------


def _source_ip(i: int) -> str:
    return f"127.0.1.{i + 1}"


def _engine(i: int) -> str:
    return f"80001f8804656d73{i:04x}"


class Sink:
    def __init__(self) -> None:
        self.items: list[Notification] = []

    def __call__(self, notification: Notification) -> None:
        self.items.append(notification)


async def _wait(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.timeout(180)
async def test_traps_and_informs_every_combination_from_net_snmp(tmp_path: Path) -> None:
    sink = Sink()
    learned: dict[str, bytes] = {}
    rx = TrapReceiver(
        sink, "127.0.0.1", 0, on_engine_learned=lambda ne, e: learned.__setitem__(ne, e)
    )
    rx.set_sources(
        {_source_ip(i): TrapSource(f"ne-{u.name}", profile(u)) for i, u in enumerate(USERS)}
    )
    await rx.start()
    try:
        dest = f"udp:127.0.0.1:{rx.address[1]}"
        failed = []
        for i, user in enumerate(USERS):
            common = [*user.args(), f"--clientaddr={_source_ip(i)}", dest]
            trap = await run_tool(
                "snmptrap", *common[:-2], "-e", f"0x{_engine(i)}", *common[-2:],
                "42", LINK_DOWN, f"{IF_INDEX}.{i + 1}", "i", str(i + 1),
            )  # fmt: skip
            inform = await run_tool(
                "snmpinform", "-r", "1", "-t", "3", *common,
                "43", LINK_DOWN, f"{IF_INDEX}.{i + 1}", "i", str(i + 1),
            )  # fmt: skip
            if trap.returncode or inform.returncode:
                failed.append(f"{user.name}: {trap.stderr.strip()} {inform.stderr.strip()}")
        await _wait(lambda: len(sink.items) >= 2 * len(USERS) - len(failed))
    finally:
        await rx.close()
    assert failed == []  # snmpinform exits non-zero unless our Response decrypted at its end
    by_ne: dict[str, list[Notification]] = {}
    for n in sink.items:
        by_ne.setdefault(n.ne, []).append(n)
    missing = [u.name for u in USERS if len(by_ne.get(f"ne-{u.name}", [])) != 2]
    assert missing == []
    for i, user in enumerate(USERS):
        for n in by_ne[f"ne-{user.name}"]:
            assert (n.version, n.trap_oid) == ("3", LINK_DOWN_OID)
            assert dict(n.varbinds)[(1, 3, 6, 1, 2, 1, 2, 2, 1, 1, i + 1)] == i + 1
        assert sorted(n.uptime or 0 for n in by_ne[f"ne-{user.name}"]) == [42, 43]
    assert rx.counters["bad_v3"] == 0 and rx.counters["informs_answered"] == len(USERS)
    # Engine IDs are learnt from authenticated traps only (not from noAuthNoPriv ones).
    assert learned == {
        f"ne-{u.name}": bytes.fromhex(_engine(i)) for i, u in enumerate(USERS) if u.auth != "none"
    }

"""Native and pysnmp SNMP paths give the same (OID, value) pairs, value by value.

Two real agents: snmpsim serving a recording with every SMI type at its edges (0 and the
maxima, the empty string, strings that need long-form lengths, OIDs of 128 arcs and arcs of
2^32-1, NULL and the three exceptions), and net-snmp's snmpd serving its own MIB-2 (a real
agent's encoder, values we did not write). Each is walked and read with
SnmpClient(native_v2c=True) (shared.ber) and SnmpClient(native_v2c=False) (pysnmp/pyasn1), and
over SNMPv3 with native_v3 True and False; every pair must match, not only the row count.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent.snmp import SnmpClient, SnmpTarget
from shared.errors import SnmpError
from shared.model import CredentialProfile, SnmpVersion
from tests.helpers.netsnmp import V3User, running_snmpd
from tests.helpers.snmpsim import running_snmpsim, write_snmprec

pytestmark = pytest.mark.timeout(90)

ENT = (1, 3, 6, 1, 4, 1, 99999)
COMMUNITY = "parity"
V3_USER = "parity-user"
V3_AUTH = "parity-auth-key-1"
V3_PRIV = "parity-priv-key-1"
LONG_NAME = (*ENT, 2, *range(1, 120))  # 127 arcs with the instance below
BIG_ARCS = (*ENT, 3, 2**32 - 1, 2**31, 128, 0)


def _records() -> list[tuple[tuple[int, ...], str, str]]:
    values = [
        ("2", "-2147483648"),
        ("2", "2147483647"),
        ("2", "0"),
        ("4", ""),
        ("4", "emspool"),
        ("4x", ("ff00" * 150)),  # 300 octets: long-form lengths in every enclosing TLV
        ("4x", "c32800ff80"),  # not UTF-8
        ("6", "0.0"),
        ("6", "2.999.4294967295"),
        ("6", ".".join(map(str, (1, 3, *range(126))))),  # 128 arcs
        ("64", "0.0.0.0"),
        ("64", "255.255.255.255"),
        ("65", "0"),
        ("65", "2147483648"),  # the first Counter32 that needs a leading 0x00
        ("65", "4294967295"),
        ("66", "4294967295"),
        ("67", "4294967295"),
        ("68x", "9f780441200000"),  # an Opaque float, as net-snmp's laLoadFloat
        ("68x", ""),
        ("70", "18446744073709551615"),
        ("70", "9223372036854775808"),
        ("70", "0"),
    ]
    recs = [((*ENT, 1, i, 0), t, v) for i, (t, v) in enumerate(values, 1)]
    recs += [((*LONG_NAME, 7), "2", "7"), ((*BIG_ARCS,), "66", "1")]
    # NULL and the exceptions, each in a subtree of its own: a walk stops at them.
    recs += [((*ENT, 9, i, 0), t, "") for i, t in enumerate(("5", "128", "129", "130"), 1)]
    recs += [((*ENT, 9, 5, 0), "2", "5")]  # a value after them
    return sorted(recs)


V2C = CredentialProfile(name="parity-v2c", community=COMMUNITY)
V1 = CredentialProfile(name="parity-v1", version=SnmpVersion.V1, community=COMMUNITY)
SNMPSIM_USER = V3User(V3_USER, "sha256", "aes", V3_AUTH, V3_PRIV)
V3 = SNMPSIM_USER.profile("parity-v3")


@pytest.fixture(scope="module")
def snmpsim_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("parity-snmpsim")
    write_snmprec(root / "data", COMMUNITY, _records())
    probe = (COMMUNITY, ".".join(map(str, (*ENT, 1, 1, 0))))
    with running_snmpsim(root, SNMPSIM_USER, probe) as port:
        yield port


SNMPD_COMMUNITY = "parity-ro"
SNMPD_USER = V3User("paritynet", "sha256", "aes", V3_AUTH, V3_PRIV)
SNMPD_V3 = SNMPD_USER.profile("parity-snmpd-v3")


@pytest.fixture(scope="module")
def snmpd_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    extra = f"rocommunity {SNMPD_COMMUNITY} 127.0.0.1\n"
    with running_snmpd(tmp_path_factory.mktemp("parity-snmpd"), [SNMPD_USER], extra) as port:
        yield port


async def _both(
    profile: CredentialProfile, port: int, what: str, roots: list[tuple[int, ...]]
) -> tuple[Any, Any]:
    """The same walks (or GETs) through the native path and through pysnmp."""
    native_flag = "native_v3" if profile.version is SnmpVersion.V3 else "native_v2c"
    context = COMMUNITY if profile is V3 else ""
    target = SnmpTarget("127.0.0.1", port, profile, timeout=2.0, retries=1, context=context)
    results = []
    for native in (True, False):
        client = SnmpClient(**{native_flag: native})  # type: ignore[arg-type]
        try:
            if what == "walk":
                results.append(await client.walk_many(target, roots))
            else:
                results.append(await client.get(target, roots))
            stats = (
                client.v3_transport_stats if native_flag == "native_v3" else client.transport_stats
            )
            if native:
                assert stats and stats.get("malformed", 0) == 0, stats
            else:
                assert stats == {}  # really went through pysnmp
        except SnmpError as exc:
            results.append(("error", type(exc).__name__))
        finally:
            client.close()
    return results[0], results[1]


def _assert_same_pairs(native: dict[Any, Any], pysnmp: dict[Any, Any]) -> int:
    """Every (OID, value) pair the same, with the same Python type; returns the pair count."""
    assert native.keys() == pysnmp.keys()
    count = 0
    for root in native:
        ours, theirs = native[root], pysnmp[root]
        for i, ((o1, v1), (o2, v2)) in enumerate(zip(ours, theirs, strict=True)):
            assert (o1, type(v1), v1) == (o2, type(v2), v2), f"row {i} under {root}"
            count += 1
    return count


ROOTS = [(*ENT, 1), (*ENT, 2), (*ENT, 3), *[(*ENT, 9, i) for i in range(1, 6)]]


@pytest.mark.parametrize("profile", [V2C, V3, V1], ids=["v2c", "v3", "v1"])
async def test_every_smi_type_walks_the_same(snmpsim_port: int, profile: CredentialProfile) -> None:
    native, pysnmp = await _both(profile, snmpsim_port, "walk", ROOTS)
    assert isinstance(native, dict), native
    if profile is V1:
        # RFC 3584 4.2.2.1: a v1 agent skips Counter64 objects, so their 3 rows are absent.
        assert _assert_same_pairs(native, pysnmp) == 22
        assert [o[-2] for o, _ in native[(*ENT, 1)]] == list(range(1, 20))
        return
    assert isinstance(native, dict), native
    assert _assert_same_pairs(native, pysnmp) == 25  # 22 typed values, 2 names, 1 after NULLs
    rows = dict(native[(*ENT, 1)])
    assert rows[(*ENT, 1, 15, 0)] == 2**32 - 1 and rows[(*ENT, 1, 20, 0)] == 2**64 - 1
    assert rows[(*ENT, 1, 6, 0)] == b"\xff\x00" * 150 and rows[(*ENT, 1, 4, 0)] == b""
    assert rows[(*ENT, 1, 10, 0)] == (1, 3, *range(126))
    assert native[(*ENT, 3)] == [(BIG_ARCS, 1)]
    # NULL and the exceptions end their subtree on both paths; the last subtree has a value.
    assert [native[(*ENT, 9, i)] for i in range(1, 6)] == [[], [], [], [], [((*ENT, 9, 5, 0), 5)]]


@pytest.mark.parametrize("profile", [V2C, V3], ids=["v2c", "v3"])
async def test_every_smi_type_reads_the_same(snmpsim_port: int, profile: CredentialProfile) -> None:
    oids = [oid for oid, _, _ in _records()] + [(*ENT, 8, 0)]  # and one that does not exist
    native, pysnmp = await _both(profile, snmpsim_port, "get", oids)
    assert isinstance(native, dict), native
    assert [(o, type(v), v) for o, v in native.items()] == [
        (o, type(v), v) for o, v in pysnmp.items()
    ]
    assert native[(*ENT, 9, 1, 0)] is None and native[(*ENT, 8, 0)] is None


SNMPD_ROOTS = [
    (1, 3, 6, 1, 2, 1, 1),  # system: strings, OIDs, TimeTicks
    (1, 3, 6, 1, 2, 1, 2, 2, 1),  # ifTable: Integer, Gauge32, Counter32, PhysAddress
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1),  # ifXTable: Counter64
    (1, 3, 6, 1, 2, 1, 4, 20, 1),  # ipAddrTable: IpAddress
]


@pytest.mark.parametrize("profile", ["v2c", "v3"])
async def test_net_snmp_walks_the_same(snmpd_port: int, profile: str) -> None:
    cred = (
        SNMPD_V3
        if profile == "v3"
        else CredentialProfile(name="parity-snmpd", community=SNMPD_COMMUNITY)
    )
    # A live agent's counters and clocks move between walks: read natively twice around the
    # pysnmp walk; a value the same both times did not move, so pysnmp must have read it too.
    first, pysnmp = await _both(cred, snmpd_port, "walk", SNMPD_ROOTS)
    second, _ = await _both(cred, snmpd_port, "walk", SNMPD_ROOTS)
    assert isinstance(first, dict) and isinstance(pysnmp, dict), (first, pysnmp)
    compared = moved = 0
    seen_types: set[type] = set()
    for root in SNMPD_ROOTS:
        a, b, c = (dict(x[root]) for x in (first, pysnmp, second))
        assert list(a) == list(b) == list(c), f"OIDs under {root}"
        for oid, value in a.items():
            assert type(b[oid]) is type(value), oid
            seen_types.add(type(value))
            if c[oid] == value:
                assert b[oid] == value, oid
                compared += 1
            else:
                moved += 1
    assert compared > 50 and moved < compared
    assert {int, bytes, tuple, str} <= seen_types

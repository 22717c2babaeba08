"""shared.ber against pyasn1 (pysnmp's v1/v2c Message specs), value by value, same octets.

Where both accept a message they must agree on everything: version, community, PDU type, the
PDU's fields and every varbind's (OID, type, value). Where only one accepts, the reason must be
one of the documented disagreements below, each decided by X.690 / RFC 3417 / RFC 2578:

We accept, pyasn1 refuses:
- an unsigned value (Counter32, Gauge32, TimeTicks, Counter64) whose first octet has its top
  bit set. X.690 makes it negative, so pyasn1's range check fails; agents that leave out the
  leading 0x00 (mini-snmpd, small embedded stacks) mean the unsigned number, and we read it so
  and range-check it (see shared/ber.py);
- an SNMPv2 value class (Counter64, noSuchObject/noSuchInstance/endOfMibView) in a v1 message.
  RFC 1157's ObjectSyntax lacks them; we read them anyway (as net-snmp does): the value is
  unambiguous, and a v1 walk stops on the exceptions as on noSuchName.

We refuse, pyasn1 accepts: the cases in WE_REFUSE below, each a generic-BER leniency of
pyasn1 that an SNMP rule (quoted beside it) rules out. Anything else is a test failure.
"""

from __future__ import annotations

import re

import pytest

from shared import ber
from tests.helpers.ber_seeds import SEEDS
from tests.helpers.mutate import Node, mutations, parse, structured_mutations, walk
from tests.helpers.snmp_views import Rejected, View, our_view, pyasn1_view

pytestmark = pytest.mark.timeout(60)

WE_REFUSE: dict[str, str] = {
    r"indefinite length": "RFC 3417 section 8: only the definite form of length is used",
    r"expected tag 0x04, got 0x24|unsupported value tag 0x24": (
        "RFC 3417 section 8: simple types (OCTET STRING) use the primitive form"
    ),
    r"unsupported value tag 0x[9bdf]f": (
        "X.690 8.1.2.2: tag numbers below 31 take one identifier octet; pyasn1 reads a "
        "two-octet identifier such as 9f 01 as [1] (noSuchInstance)"
    ),
    r"OID arc above 2\^32-1|OID of more than 128 arcs": (
        "RFC 2578 7.1.3: at most 128 sub-identifiers, each at most 2^32-1"
    ),
    r"of a bad width": (
        "X.690 8.3.1: an INTEGER has at least one content octet (pyasn1 reads none as 0); "
        "8.3.2: it is minimal, so no SNMP value needs more than 9 octets"
    ),
    r"(request-id|error-status|Integer32|specific-trap) value (above|below)": (
        "SNMP's INTEGER is 32 bits (RFC 2578 7.1.1, RFC 3416 request-id Integer32; SMIv1 "
        "INTEGER maps to Integer32, RFC 3584 2.1.1): pyasn1's v1 spec and v2c error-status "
        "leave INTEGER unbounded; specific-trap becomes an OID arc (RFC 3584 3.1), so >= 0"
    ),
    r"error-index value below": (
        "RFC 3416: error-index is INTEGER (0..max-bindings); pyasn1's v1 spec leaves it unbounded"
    ),
}

_UNSIGNED = frozenset({0x41, 0x42, 0x43, 0x46})
_V2_ONLY = frozenset({0x46, 0x80, 0x81, 0x82})


def _primitives(data: bytes) -> list[Node]:
    return [node for _, node in walk(parse(data)) if node.children is None]


def we_may_accept_alone(data: bytes) -> str | None:
    """The documented reason we accept a message pyasn1 refuses, or None."""
    prims = _primitives(data)
    if any(n.tag in _UNSIGNED and n.content[:1] >= b"\x80" for n in prims):
        return "unsigned value without its leading 0x00"
    if ber.peek_version(data) == 0 and any(n.tag in _V2_ONLY for n in prims):
        return "SNMPv2 value class in a v1 message"
    return None


def we_may_refuse_alone(reason: str) -> str | None:
    for pattern, why in WE_REFUSE.items():
        if re.search(pattern, reason):
            return why
    return None


def compare(inputs: list[bytes]) -> tuple[dict[str, int], dict[str, str]]:
    """Counts per outcome, and {unexplained disagreement: input hex}."""
    counts: dict[str, int] = {}
    bad: dict[str, str] = {}
    for data in inputs:
        ours, theirs = our_view(data), pyasn1_view(data)
        if isinstance(ours, View) and isinstance(theirs, View):
            outcome = "agree" if ours == theirs else "VALUES DIFFER"
        elif isinstance(ours, Rejected) and isinstance(theirs, Rejected):
            outcome = "both refuse"
        elif isinstance(ours, View):
            outcome = "we accept: " + (we_may_accept_alone(data) or "UNEXPLAINED")
        else:
            assert isinstance(ours, Rejected)
            why = we_may_refuse_alone(ours.reason)
            outcome = "we refuse: " + (ours.reason if why else f"UNEXPLAINED {ours.reason}")
        counts[outcome] = counts.get(outcome, 0) + 1
        if "DIFFER" in outcome or "UNEXPLAINED" in outcome:
            bad.setdefault(outcome, data.hex())
    return counts, bad


V1_V2C_SEEDS = [s for s in SEEDS if ber.peek_version(s) in (0, 1)]


def test_every_seed_decodes_the_same_in_pyasn1() -> None:
    for data in V1_V2C_SEEDS:
        ours, theirs = our_view(data), pyasn1_view(data)
        assert isinstance(ours, View), ours
        assert ours == theirs


def test_raw_mutants_agree_with_pyasn1() -> None:
    counts, bad = compare(list(mutations(V1_V2C_SEEDS, 1000, 424242)))
    assert bad == {}, counts
    assert counts.get("agree", 0) > 50


def test_structured_mutants_agree_with_pyasn1() -> None:
    counts, bad = compare(list(structured_mutations(V1_V2C_SEEDS, 1000, 434343)))
    assert bad == {}, counts
    assert counts.get("agree", 0) > 100
    # The documented disagreements are not hypothetical: the mutants hit them.
    assert any(k.startswith("we accept: unsigned") for k in counts), counts
    assert any("indefinite" in k for k in counts), counts


@pytest.mark.parametrize(
    ("wire", "ours", "theirs"),
    [
        # 33000 sent as 80 e8 (no leading 0x00): we read 33000, pyasn1 refuses (-32536).
        ("4102 80e8", 33000, None),
        ("4304 ffffffff", 2**32 - 1, None),
        ("4102 0080", 128, 128),  # the correct form: both agree
        ("4105 00ffffffff", 2**32 - 1, 2**32 - 1),
        ("4100", None, 0),  # no content octet: X.690 8.3.1 says refuse, pyasn1 reads 0
        ("4105 0100000000", None, None),  # 2^32: both refuse
    ],
)
def test_documented_cases(wire: str, ours: int | None, theirs: int | None) -> None:
    value = bytes.fromhex(wire.replace(" ", ""))
    vb = ber._tlv(0x30, ber._enc_oid((1, 3, 6, 1, 4, 1, 1)) + value)
    pdu = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + ber._tlv(0x30, vb)
    data = ber._tlv(0x30, b"\x02\x01\x01\x04\x01c" + ber._tlv(0xA2, pdu))
    got_ours, got_theirs = our_view(data), pyasn1_view(data)
    assert (got_ours.varbinds[0][1][1] if isinstance(got_ours, View) else None) == ours
    assert (got_theirs.varbinds[0][1][1] if isinstance(got_theirs, View) else None) == theirs

"""Property-based round trips of shared.ber for every SMI type and every PDU type (Hypothesis).

Strategies lean on the edges: 0 and each type's maximum, the octet counts where BER changes
(127/128, 255/256, 2^31 for unsigned types: the extra 0x00), strings and varbind lists long
enough for long-form lengths, OIDs of 128 arcs and arcs up to 2^32-1 (arc 2 with a big
second arc), empty strings, NULL and the three exceptions. Each message we encode must decode
to the same typed values with our decoder and, value by value, with pyasn1 (pysnmp's specs);
each message pysnmp encodes must decode to its values with ours. The examples are fixed per
run (see tests/helpers/hypothesis_profiles.py) so CI is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.proto import api, rfc1902, rfc1905

import tests.helpers.hypothesis_profiles  # noqa: F401  (loads the profile)
from shared import ber
from shared.ber import (
    PDU_GET,
    PDU_GETBULK,
    PDU_GETNEXT,
    PDU_INFORM,
    PDU_REPORT,
    PDU_RESPONSE,
    PDU_SET,
    PDU_TRAP_V2,
    Counter32,
    Counter64,
    Gauge32,
    IpAddress,
    Opaque,
    TimeTicks,
)
from tests.helpers.snmp_views import View, our_tagged, our_view, pyasn1_view

pytestmark = pytest.mark.timeout(60)


def _edged(low: int, high: int, *edges: int) -> st.SearchStrategy[int]:
    picks = sorted({e for e in (low, high, *edges) if low <= e <= high})
    return st.one_of(st.sampled_from(picks), st.integers(low, high))


_BYTE_EDGES = (0, 1, 127, 128, 255, 256, 32767, 32768, 65535, 65536, 2**24)
INT32 = _edged(-(2**31), 2**31 - 1, -(2**31) + 1, -129, -128, -1, *_BYTE_EDGES)
UINT32 = _edged(0, 2**32 - 1, *_BYTE_EDGES, 2**31 - 1, 2**31, 2**32 - 2)
UINT64 = _edged(0, 2**64 - 1, *_BYTE_EDGES, 2**32 - 1, 2**32, 2**63 - 1, 2**63)
ARC = _edged(0, 2**32 - 1, 1, 39, 40, 127, 128, 16383, 16384, 2**21, 2**28 - 1, 2**28)
OCTETS = st.one_of(
    st.just(b""),
    st.binary(max_size=16),
    st.binary(min_size=120, max_size=300),  # long-form lengths (>= 128, >= 256)
)


@st.composite
def oids(draw: st.DrawFn, max_rest: int = 12) -> tuple[int, ...]:
    first = draw(st.integers(0, 2))
    second = draw(st.integers(0, 39) if first < 2 else _edged(0, 2**32 - 81, 39, 40, 999))
    if draw(st.integers(0, 9)) == 0:  # now and then the longest OID, 128 arcs (cheap to draw)
        start = draw(ARC)
        return (first, second, *((start + 7919 * i) % 2**32 for i in range(126)))
    return (first, second, *draw(st.lists(ARC, max_size=max_rest)))


IPADDR = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: IpAddress(".".join(map(str, t))))

# Every SMI value, in the typed form the encoder needs (plain int: Integer32, bytes: OCTET
# STRING, tuple: OBJECT IDENTIFIER, None: NULL).
SMI_VALUES: st.SearchStrategy[Any] = st.one_of(
    INT32,
    OCTETS,
    oids(),
    IPADDR,
    UINT32.map(Counter32),
    UINT32.map(Gauge32),
    UINT32.map(TimeTicks),
    UINT64.map(Counter64),
    OCTETS.map(Opaque),
    st.none(),
)
EXCEPTIONS = st.sampled_from([ber.NO_SUCH_OBJECT, ber.NO_SUCH_INSTANCE, ber.END_OF_MIB_VIEW])
V1_VALUES = SMI_VALUES.filter(lambda v: not isinstance(v, Counter64))

VARBINDS = st.lists(st.tuples(oids(), SMI_VALUES), max_size=5)
RESPONSE_VARBINDS = st.lists(st.tuples(oids(), st.one_of(SMI_VALUES, EXCEPTIONS)), max_size=5)
COMMUNITY = st.one_of(st.just(b""), st.binary(max_size=12), st.binary(min_size=130, max_size=140))


_F = TypeVar("_F", bound=Callable[..., None])


def _examples(kwargs_list: list[dict[str, Any]]) -> Callable[[_F], _F]:
    """Pin each of these examples on the test (Hypothesis tries them first, every run)."""

    def decorate(test: _F) -> _F:
        for kwargs in reversed(kwargs_list):
            test = example(**kwargs)(test)
        return test

    return decorate


def _tagged(varbinds: Any) -> list[tuple[tuple[int, ...], tuple[int, Any]]]:
    return [(tuple(oid), our_tagged(v)) for oid, v in varbinds]


def _agrees_with_pyasn1(data: bytes) -> View:
    ours, theirs = our_view(data), pyasn1_view(data)
    assert isinstance(ours, View), ours
    assert ours == theirs
    return ours


# -- every SMI type ---------------------------------------------------------------------------


_EDGE_VALUES: list[Any] = [
    0,
    -(2**31),
    2**31 - 1,
    Counter32(0),
    Counter32(2**31),  # the first value that needs the 0x00 octet in front
    Counter32(2**32 - 1),
    Gauge32(2**32 - 1),
    TimeTicks(2**32 - 1),
    Counter64(2**63),
    Counter64(2**64 - 1),
    b"",
    b"\xff" * 255,
    b"\x00" * 256,  # a two-octet long-form length
    Opaque(b""),
    IpAddress("0.0.0.0"),
    IpAddress("255.255.255.255"),
    (0, 0),
    (1, 39),
    (2, 2**32 - 81, 2**32 - 1),  # the biggest shared first sub-identifier, the biggest arc
    (1, 3, *range(126)),
    None,
    ber.NO_SUCH_OBJECT,
    ber.NO_SUCH_INSTANCE,
    ber.END_OF_MIB_VIEW,
]


@given(value=st.one_of(SMI_VALUES, EXCEPTIONS), name=oids())
@_examples([{"value": v, "name": (1, 3, 6, 1, 4, 1, 9, 9, 2**32 - 1)} for v in _EDGE_VALUES])
def test_every_smi_value_round_trips(value: Any, name: tuple[int, ...]) -> None:
    data = ber.encode_response_pdu(1, b"c", 1, [(name, value)])
    ((got_name, got),) = ber._decode_response(data, typed=True).varbinds
    assert got_name == name
    assert our_tagged(got) == our_tagged(value)  # same type and value
    plain = ber._decode_response(data).varbinds[0][1]
    assert plain == (str(value) if isinstance(value, IpAddress) else value)
    _agrees_with_pyasn1(data)


@given(
    st.one_of(
        st.integers(max_value=-(2**31) - 1),
        st.integers(min_value=2**31),
        st.integers(max_value=-1).map(Counter32),
        st.integers(min_value=2**32).map(Counter32),
        st.integers(min_value=2**32).map(Gauge32),
        st.integers(max_value=-1).map(TimeTicks),
        st.integers(min_value=2**32).map(TimeTicks),
        st.integers(min_value=2**64).map(Counter64),
        st.integers(max_value=-1).map(Counter64),
    )
)
def test_out_of_range_values_are_not_encoded(value: int) -> None:
    with pytest.raises(ValueError, match=r"out|range|above|below"):
        ber.encode_value(value)


# -- every PDU type ---------------------------------------------------------------------------

REQUEST_ID = INT32
BINDINGS = _edged(0, 2**31 - 1, 1, 10, 127, 128)


@given(
    pdu_type=st.sampled_from([PDU_GET, PDU_GETNEXT, PDU_GETBULK]),
    version=st.sampled_from([0, 1]),
    community=COMMUNITY,
    request_id=REQUEST_ID,
    names=st.lists(oids(), max_size=8),
    non_repeaters=BINDINGS,
    max_repetitions=BINDINGS,
)
def test_requests_round_trip(
    pdu_type: int,
    version: int,
    community: bytes,
    request_id: int,
    names: list[tuple[int, ...]],
    non_repeaters: int,
    max_repetitions: int,
) -> None:
    bulk = pdu_type == PDU_GETBULK
    version = 1 if bulk else version
    kw = {"non_repeaters": non_repeaters, "max_repetitions": max_repetitions} if bulk else {}
    data = ber.encode_request(pdu_type, version, community, request_id, names, **kw)
    got = ber._decode_pdu_message(data, typed=True)
    assert (got.version, got.community, got.pdu.pdu_type) == (version, community, pdu_type)
    fields = (non_repeaters, max_repetitions) if bulk else (0, 0)
    assert (got.pdu.request_id, got.pdu.error_status, got.pdu.error_index) == (request_id, *fields)
    assert got.pdu.varbinds == tuple((n, None) for n in names)
    _agrees_with_pyasn1(data)


@given(
    pdu_type=st.sampled_from([PDU_RESPONSE, PDU_SET, PDU_REPORT]),
    version=st.sampled_from([0, 1]),
    community=COMMUNITY,
    request_id=REQUEST_ID,
    error_status=st.one_of(st.integers(0, 18), INT32),
    error_index=BINDINGS,
    varbinds=RESPONSE_VARBINDS,
)
def test_response_set_report_round_trip(
    pdu_type: int,
    version: int,
    community: bytes,
    request_id: int,
    error_status: int,
    error_index: int,
    varbinds: list[Any],
) -> None:
    if pdu_type == PDU_REPORT:
        version = 1  # Report is an SNMPv2 PDU (RFC 3416)
    data = ber.encode_pdu_message(
        version,
        community,
        pdu_type,
        request_id,
        varbinds,
        error_status=error_status,
        error_index=error_index,
    )
    got = ber._decode_pdu_message(data, typed=True).pdu
    assert (got.pdu_type, got.request_id, got.error_status, got.error_index) == (
        pdu_type,
        request_id,
        error_status,
        error_index,
    )
    assert _tagged(got.varbinds) == _tagged(varbinds)
    if pdu_type == PDU_RESPONSE:
        response = ber._decode_response(data, typed=True)
        assert (response.version, response.community) == (version, community)
        assert _tagged(response.varbinds) == _tagged(varbinds)
    if pdu_type in (PDU_RESPONSE, PDU_REPORT):  # the v3 path's decoder, on the bare PDU
        pdu = ber.encode_pdu(pdu_type, request_id, varbinds, error_status=error_status)
        assert _tagged(ber._decode_response_pdu(pdu, 0, len(pdu), typed=True).varbinds) == (
            _tagged(varbinds)
        )
    if version == 0 and any(isinstance(v, ber.ExceptionValue | Counter64) for _, v in varbinds):
        return  # not in RFC 1157's ObjectSyntax: pyasn1's v1 spec refuses (test_ber_pyasn1)
    _agrees_with_pyasn1(data)


@given(
    inform=st.booleans(),
    community=COMMUNITY,
    request_id=REQUEST_ID,
    trap_oid=oids(),
    uptime=UINT32,
    varbinds=VARBINDS,
)
def test_v2_trap_and_inform_round_trip(
    inform: bool,
    community: bytes,
    request_id: int,
    trap_oid: tuple[int, ...],
    uptime: int,
    varbinds: list[Any],
) -> None:
    data = ber.encode_notification(
        community, trap_oid, varbinds, uptime=uptime, request_id=request_id, inform=inform
    )
    got = ber._decode_message(data, typed=True)
    assert got.pdu_type == (PDU_INFORM if inform else PDU_TRAP_V2)
    assert (got.community, got.request_id, got.uptime) == (community, request_id, uptime)
    assert got.trap_oid == trap_oid
    expected = [(ber.SYS_UPTIME_0, TimeTicks(uptime)), (ber.SNMP_TRAP_OID_0, trap_oid), *varbinds]
    assert _tagged(got.varbinds) == _tagged(expected)
    # The same PDU bare, as a v3 ScopedPDU carries it.
    pdu = ber.encode_pdu(PDU_INFORM if inform else PDU_TRAP_V2, request_id, expected)
    bare = ber._decode_notification_pdu(pdu, 0, len(pdu), typed=True)
    assert (bare.version, bare.community, bare.trap_oid, bare.uptime) == (3, b"", trap_oid, uptime)
    assert _tagged(bare.varbinds) == _tagged(expected)
    if inform:  # the acknowledgement echoes the varbinds verbatim
        ack = ber._decode_response(ber.encode_response(got), typed=True)
        assert (ack.request_id, _tagged(ack.varbinds)) == (request_id, _tagged(expected))
    _agrees_with_pyasn1(data)


@given(
    community=COMMUNITY,
    enterprise=oids(max_rest=10),
    address=IPADDR,
    generic=st.integers(0, 6),
    specific=BINDINGS,
    stamp=UINT32,
    varbinds=st.lists(st.tuples(oids(), V1_VALUES), max_size=5),
)
def test_v1_trap_round_trip(
    community: bytes,
    enterprise: tuple[int, ...],
    address: str,
    generic: int,
    specific: int,
    stamp: int,
    varbinds: list[Any],
) -> None:
    if len(enterprise) > 126:
        enterprise = enterprise[:126]  # enterprise.0.specific must still fit 128 arcs
    data = ber.encode_v1_trap(community, enterprise, address, generic, specific, stamp, varbinds)
    got = ber._decode_message(data, typed=True)
    assert (got.version, got.community, got.uptime, got.agent_address) == (
        0,
        community,
        stamp,
        address,
    )
    view = _agrees_with_pyasn1(data)  # pyasn1's fields converted by RFC 3584 in the helper
    assert view.fields[0] == got.trap_oid


# -- what pysnmp encodes, we decode -------------------------------------------------------------

_PYSNMP_CLASSES = {
    Counter32: rfc1902.Counter32,
    Gauge32: rfc1902.Gauge32,
    TimeTicks: rfc1902.TimeTicks,
    Counter64: rfc1902.Counter64,
    Opaque: rfc1902.Opaque,
    IpAddress: rfc1902.IpAddress,
}


def _pysnmp_value(value: Any) -> Any:
    if isinstance(value, ber.ExceptionValue):
        return {
            ber.NO_SUCH_OBJECT: rfc1905.noSuchObject,
            ber.NO_SUCH_INSTANCE: rfc1905.noSuchInstance,
            ber.END_OF_MIB_VIEW: rfc1905.endOfMibView,
        }[value]
    cls = _PYSNMP_CLASSES.get(type(value))
    if cls is not None:
        return cls(str(value) if cls is rfc1902.IpAddress else value)
    if value is None:
        return rfc1902.Null("")
    if isinstance(value, bytes):
        return rfc1902.OctetString(value)
    if isinstance(value, tuple):
        return rfc1902.ObjectIdentifier(value)
    return rfc1902.Integer32(value)


@given(request_id=REQUEST_ID, varbinds=RESPONSE_VARBINDS, community=COMMUNITY)
def test_we_decode_what_pysnmp_encodes(
    request_id: int, varbinds: list[Any], community: bytes
) -> None:
    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = p.GetResponsePDU()
    p.apiPDU.set_defaults(pdu)
    p.apiPDU.set_request_id(pdu, request_id)
    p.apiPDU.set_varbinds(pdu, [(oid, _pysnmp_value(v)) for oid, v in varbinds])
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, community)
    p.apiMessage.set_pdu(msg, pdu)
    got = ber._decode_response(pyasn1_encoder.encode(msg), typed=True)
    assert (got.request_id, got.community) == (request_id, community)
    assert _tagged(got.varbinds) == _tagged(varbinds)
